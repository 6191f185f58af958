// 4. What to compute: dataset examples, feature visualization, weights, and where and under what name it runs.
import { Checkbox, FieldSet, NumberField } from "../../../shared/form";
import { RunTargetFields } from "./RunTargetFields";
import { OBJECTIVES, type SettingsForm } from "./runDescription";
import type { ProblemOf } from "./formState";

interface SettingsProps {
  settings: SettingsForm;
  onChange: (patch: Partial<SettingsForm>) => void;
  problem: ProblemOf;
}

export function SettingsSection({ slugPlaceholder, ...props }: SettingsProps & { slugPlaceholder: string }) {
  const { settings, onChange } = props;
  return (
    <FieldSet title="4. What to compute" id="settings" className="job-form-section">
      <div className="settings-grid">
        <ExamplesSettings {...props} />
        <FeatureVisSettings {...props} />
        <div>
          <Checkbox label={<strong>Weights and connections</strong>} checked={settings.weights} onChange={(v) => onChange({ weights: v })} />
          <RunTargetFields {...props} slugPlaceholder={slugPlaceholder} />
        </div>
      </div>
    </FieldSet>
  );
}

function ExamplesSettings({ settings, onChange, problem }: SettingsProps) {
  return (
    <div>
      <Checkbox label={<strong>Dataset examples</strong>} checked={settings.examples} onChange={(v) => onChange({ examples: v })} />
      <div className="field-row">
        <NumberField label="k (top and bottom per unit)" name="examples.k" value={settings.k} onChange={(v) => onChange({ k: v })} problem={problem("examples.k")} width={80} />
        <NumberField label="Batch size" name="examples.batch_size" value={settings.batchSize} onChange={(v) => onChange({ batchSize: v })} problem={problem("examples.batch_size")} width={80} />
      </div>
    </div>
  );
}

function FeatureVisSettings({ settings, onChange, problem }: SettingsProps) {
  return (
    <div>
      <Checkbox label={<strong>Feature visualization</strong>} checked={settings.featurevis} onChange={(v) => onChange({ featurevis: v })} />
      <div className="field-row">
        <NumberField label="Steps" name="featurevis.steps" value={settings.steps} onChange={(v) => onChange({ steps: v })} problem={problem("featurevis.steps")} width={80} hint="512 as in Lucid" />
        <NumberField label="Size (px)" name="featurevis.size" value={settings.fvSize} onChange={(v) => onChange({ fvSize: v })} problem={problem("featurevis.size")} placeholder="input size" width={90} />
      </div>
      <div className="objectives" data-field="featurevis.objectives">
        {OBJECTIVES.map((o) => (
          <Checkbox
            key={o}
            label={o}
            checked={settings.objectives.includes(o)}
            onChange={(v) => onChange({ objectives: v ? [...settings.objectives, o] : settings.objectives.filter((x) => x !== o) })}
          />
        ))}
        {problem("featurevis.objectives") && <div className="field-problem">{problem("featurevis.objectives")}</div>}
      </div>
    </div>
  );
}
