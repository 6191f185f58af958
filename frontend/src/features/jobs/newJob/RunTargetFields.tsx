// Where the run happens (device, engine) and the name its model gets.
import { Select, TextField } from "../../../shared/form";
import type { SettingsForm } from "./runDescription";
import type { ProblemOf } from "./formState";

const ENGINES = [
  { value: "local", label: "local (the worker)" },
  { value: "ray", label: "Ray cluster" },
] as const;

export function RunTargetFields({
  settings,
  onChange,
  problem,
  slugPlaceholder,
}: {
  settings: SettingsForm;
  onChange: (patch: Partial<SettingsForm>) => void;
  problem: ProblemOf;
  /** The name the server gives the model when none is typed. */
  slugPlaceholder: string;
}) {
  return (
    <div className="field-row">
      <TextField label="Device" name="device" value={settings.device} onChange={(v) => onChange({ device: v })} problem={problem("device")} list="devices" width={90} />
      <datalist id="devices">
        <option value="cpu" />
        <option value="cuda" />
        <option value="cuda:0" />
        <option value="mps" />
      </datalist>
      <Select
        label="Engine"
        name="engine"
        selectName="engine"
        value={settings.engine}
        onChange={(engine) => onChange({ engine })}
        options={ENGINES}
        width={180}
        hint={settings.engine === "ray" ? "spread over the server's Ray cluster; same records" : "runs in the worker process"}
      />
      <TextField
        label="Model name (slug)"
        name="model_slug"
        value={settings.slug}
        onChange={(v) => onChange({ slug: v })}
        problem={problem("model_slug")}
        placeholder={slugPlaceholder}
        hint="its pages are at /models/<slug>"
      />
    </div>
  );
}
