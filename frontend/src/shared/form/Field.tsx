import { useId, type ReactNode } from "react";

export interface FieldProps {
  label: ReactNode;
  /** The key of this value in the form's problems; set as data-field (tests and scripts find the field by it). */
  name?: string;
  hint?: ReactNode;
  /** What is wrong with the value; shown under it, and the control is marked invalid. */
  problem?: string;
  className?: string;
  /** The control, given the id its label points at and whether it is invalid. */
  children: (control: { id: string; invalid: boolean }) => ReactNode;
}

/** A label, one control, a hint and the problem with its value (if any). */
export function Field({ label, name, hint, problem, className, children }: FieldProps) {
  const id = useId();
  return (
    <div className={["field", className, problem ? "has-problem" : ""].filter(Boolean).join(" ")} data-field={name}>
      <label htmlFor={id}>{label}</label>
      {children({ id, invalid: !!problem })}
      {hint && <div className="muted small">{hint}</div>}
      {problem && <div className="field-problem">{problem}</div>}
    </div>
  );
}

export interface TextFieldProps extends Omit<FieldProps, "children" | "label"> {
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  /** Width of the input in px (short numbers need little room). */
  width?: number;
  /** The id of a <datalist> of suggestions. */
  list?: string;
  inputClassName?: string;
  inputMode?: "text" | "numeric" | "decimal";
}

/** A labelled text input. */
export function TextField({ value, onChange, placeholder, width, list, inputClassName, inputMode, ...field }: TextFieldProps) {
  return (
    <Field {...field}>
      {({ id, invalid }) => (
        <input
          id={id}
          className={inputClassName}
          value={value}
          placeholder={placeholder}
          list={list}
          inputMode={inputMode}
          style={width ? { width } : undefined}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={invalid}
        />
      )}
    </Field>
  );
}

/** A whole number typed as text: the form keeps what was typed ("", "abc", "1.5") so its validation can name
 * the problem ("a whole number from 1 to 200") instead of the browser silently dropping it, as type="number"
 * does. */
export function NumberField(props: Omit<TextFieldProps, "inputMode">) {
  return <TextField {...props} inputMode="numeric" />;
}
