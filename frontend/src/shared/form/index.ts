// A small form kit: labelled fields with a hint and the problem with their value, a checkbox, a select, radio
// cards, and a titled group. Plain controlled components; the form's state and validation stay with the form.
import "./form.css";

export { Checkbox } from "./Checkbox";
export { Field, NumberField, TextField, type FieldProps, type TextFieldProps } from "./Field";
export { FieldSet } from "./FieldSet";
export { RadioCards, type RadioCard } from "./RadioCards";
export { Select, type SelectOption } from "./Select";
