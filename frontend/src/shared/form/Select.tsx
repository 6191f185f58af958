import { Field, type FieldProps } from "./Field";

export interface SelectOption<T extends string> {
  value: T;
  label: string;
}

/** A labelled <select> of fixed options. */
export function Select<T extends string>({
  value,
  onChange,
  options,
  width,
  selectName,
  ...field
}: Omit<FieldProps, "children"> & {
  value: T;
  onChange: (value: T) => void;
  options: readonly SelectOption<T>[];
  width?: number;
  /** The select's own name attribute (form posts, tests). */
  selectName?: string;
}) {
  return (
    <Field {...field}>
      {({ id, invalid }) => (
        <select
          id={id}
          name={selectName}
          value={value}
          style={width ? { width } : undefined}
          aria-invalid={invalid || undefined}
          onChange={(e) => onChange(e.target.value as T)}
        >
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
