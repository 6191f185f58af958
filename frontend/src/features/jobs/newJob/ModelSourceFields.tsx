// The fields of each model source (torchvision name and weights, a checkpoint file, a factory...).
import { PathField, SUFFIXES } from "../FileBrowser";
import { Checkbox, Select, TextField } from "../../../shared/form";
import type { ModelForm } from "./runDescription";
import type { ProblemOf } from "./formState";

const TV_NAMES = [
  "alexnet", "vgg11", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2",
  "googlenet", "inception_v3", "densenet121", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
  "convnext_tiny", "regnet_y_400mf", "squeezenet1_1", "shufflenet_v2_x1_0", "resnext50_32x4d",
];

const TV_WEIGHTS = [
  { value: "DEFAULT", label: "DEFAULT (best available)" },
  { value: "IMAGENET1K_V1", label: "IMAGENET1K_V1" },
  { value: "IMAGENET1K_V2", label: "IMAGENET1K_V2" },
  { value: "", label: "none (random weights)" },
] as const;

export function ModelSourceFields({
  model,
  onChange,
  problem,
}: {
  model: ModelForm;
  onChange: (patch: Partial<ModelForm>) => void;
  problem: ProblemOf;
}) {
  const { kind } = model;
  return (
    <>
      {kind === "torchvision" && (
        <div className="field-row">
          <TextField label="Architecture" name="model.name" value={model.tvName} onChange={(v) => onChange({ tvName: v })} problem={problem("model.name")} list="tv-names" placeholder="resnet18" />
          <datalist id="tv-names">
            {TV_NAMES.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
          <Select
            label="Pretrained weights"
            name="model.weights"
            value={model.tvWeights}
            onChange={(v) => onChange({ tvWeights: v })}
            options={TV_WEIGHTS}
            hint="downloaded once by torchvision; offline, give a local weights file"
          />
        </div>
      )}
      {(kind === "torchvision" || kind === "lucent") && (
        <PathField label="Local weights file (optional)" name="model.weights_file" mode="file" suffixes={SUFFIXES.weights} value={model.weightsFile} onChange={(v) => onChange({ weightsFile: v })} />
      )}
      {kind === "lucent" && (
        <Checkbox label="pretrained (Lucid's weights, inception5h.pth)" checked={model.lucentPretrained} onChange={(v) => onChange({ lucentPretrained: v })} />
      )}
      {(kind === "checkpoint" || kind === "torchscript") && (
        <PathField
          label={kind === "checkpoint" ? "Checkpoint file" : "TorchScript file"}
          name="model.path"
          mode="file"
          suffixes={kind === "checkpoint" ? SUFFIXES.checkpoint : SUFFIXES.torchscript}
          value={model.path}
          onChange={(v) => onChange({ path: v })}
          problem={problem("model.path")}
        />
      )}
      {kind === "checkpoint" && (
        <TextField
          label="Architecture (for a state dict)"
          name="model.arch"
          value={model.arch}
          onChange={(v) => onChange({ arch: v })}
          placeholder="resnet18, or /path/to/file.py:build"
          hint="a torchvision name or a factory file.py:function; not needed when the file holds a whole model"
        />
      )}
      {kind === "factory" && (
        <div className="field-row">
          <PathField label="Python file" name="model.target" mode="file" suffixes={SUFFIXES.python} value={model.factoryFile} onChange={(v) => onChange({ factoryFile: v })} problem={problem("model.target")} />
          <TextField label="Function" name="model.function" value={model.factoryFunction} onChange={(v) => onChange({ factoryFunction: v })} problem={problem("model.function")} width={140} hint="called without arguments" />
        </div>
      )}
    </>
  );
}
