import type { ReactNode } from "react";

export interface RadioCard<T extends string> {
  value: T;
  title: ReactNode;
  hint: ReactNode;
}

/** One choice out of a few, each a card with a title and a line saying what it is. */
export function RadioCards<T extends string>({
  name,
  label,
  value,
  options,
  onChange,
  compact = false,
}: {
  /** The radio group's name attribute. */
  name: string;
  /** Accessible name of the group. */
  label: string;
  value: T;
  options: readonly RadioCard<T>[];
  onChange: (value: T) => void;
  /** Wider, fewer cards per row (for two or three choices). */
  compact?: boolean;
}) {
  return (
    <div className={`kind-choice${compact ? " compact" : ""}`} role="radiogroup" aria-label={label}>
      {options.map((o) => (
        <label key={o.value} className={`kind-option${value === o.value ? " selected" : ""}`}>
          <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} />
          <span>
            <strong>{o.title}</strong>
            <span className="muted small">{o.hint}</span>
          </span>
        </label>
      ))}
    </div>
  );
}
