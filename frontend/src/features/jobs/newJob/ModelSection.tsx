// 1. Model: where the model comes from, its input size and normalization, and "Discover layers".
import { useState } from "react";
import { ApiError } from "../../../shared/api/client";
import { ErrorBox } from "../../../shared/ErrorBox";
import type { DiscoverOut } from "../jobsApi";
import { FieldSet, NumberField, RadioCards, TextField, type RadioCard } from "../../../shared/form";
import { ModelSourceFields } from "./ModelSourceFields";
import type { ModelForm, ModelKind } from "./runDescription";
import type { ProblemOf } from "./formState";

const MODEL_KINDS: RadioCard<ModelKind>[] = [
  { value: "demo", title: "Demo", hint: "the small ConceptNet, trained in about a minute on generated images" },
  { value: "torchvision", title: "torchvision", hint: "a torchvision architecture by name, pretrained or from a weights file" },
  { value: "lucent", title: "InceptionV1 (lucent)", hint: "Lucid's GoogLeNet, the model of the Circuits thread" },
  { value: "checkpoint", title: "Checkpoint file", hint: "a saved nn.Module, or a state dict plus its architecture" },
  { value: "torchscript", title: "TorchScript file", hint: "a torch.jit archive (layers are listed, but hooks are limited)" },
  { value: "factory", title: "Python factory", hint: "a .py file and the function in it that returns an nn.Module" },
];

export function ModelSection({
  model,
  onChange,
  problem,
  discovery,
  stale,
  onDiscover,
  refusal,
}: {
  model: ModelForm;
  onChange: (patch: Partial<ModelForm>) => void;
  problem: ProblemOf;
  /** "Discover layers": its answer (null until one came), whether it is loading, and its error. */
  discovery: { layers: DiscoverOut | null; pending: boolean; error: unknown };
  /** The model changed since its layers were discovered. */
  stale: boolean;
  onDiscover: () => void;
  /** Start's refusal when it is about the model, else null. */
  refusal: unknown;
}) {
  const [showAdvanced, setShowAdvanced] = useState(!!(model.inputSize || model.mean || model.std));
  const { layers: discovered, pending, error } = discovery;
  return (
    <FieldSet title="1. Model" id="model" className="job-form-section">
      <RadioCards name="model-kind" label="Model source" value={model.kind} options={MODEL_KINDS} onChange={(kind) => onChange({ kind })} />
      <ModelSourceFields model={model} onChange={onChange} problem={problem} />

      <button type="button" className="link-button small" onClick={() => setShowAdvanced((v) => !v)} aria-expanded={showAdvanced}>
        {showAdvanced ? "▾" : "▸"} Input size and normalization (optional)
      </button>
      {showAdvanced && (
        <div className="field-row">
          <NumberField label="Input size (px)" name="model.input_size" value={model.inputSize} onChange={(v) => onChange({ inputSize: v })} problem={problem("model.input_size")} placeholder="model default" width={110} />
          <TextField label="Mean" name="model.mean" value={model.mean} onChange={(v) => onChange({ mean: v })} problem={problem("model.mean")} placeholder="0.485, 0.456, 0.406" />
          <TextField label="Std" name="model.std" value={model.std} onChange={(v) => onChange({ std: v })} problem={problem("model.std")} placeholder="0.229, 0.224, 0.225" />
        </div>
      )}

      <div className="actions">
        <button type="button" className="primary" onClick={onDiscover} disabled={pending}>
          {pending ? "Loading the model…" : "Discover layers"}
        </button>
        {discovered && !stale && (
          <span className="muted" data-testid="discover-result">
            <strong>{discovered.name}</strong>: {discovered.layers.length} layers · input {discovered.input_size}px
            {discovered.class_count ? ` · ${discovered.class_count} classes` : ""}
          </span>
        )}
        {stale && <span className="notice inline">The model changed since its layers were listed: discover again.</span>}
      </div>
      {error !== null && <ErrorBox error={error} title={error instanceof ApiError && error.status === 403 ? "File not allowed" : "Could not load the model"} />}
      {refusal !== null && <ErrorBox error={refusal} title="The server refused the model" />}
    </FieldSet>
  );
}
