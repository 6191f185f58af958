// The "New computation" form's state -> a run description (compute/config.py), and a TOML rendering of it.
import type { RunDescription } from "../jobsApi";

export type ModelKind = "demo" | "torchvision" | "lucent" | "checkpoint" | "torchscript" | "factory";
export type DatasetKind = "concepts" | "folder";
export const OBJECTIVES = ["channel", "neuron", "negative", "diversity", "accentuation"] as const;
export type Objective = (typeof OBJECTIVES)[number];
// the server's default set (compute/config.py OBJECTIVES): accentuation, started from the top dataset example, is opt-in
const DEFAULT_OBJECTIVES: Objective[] = ["channel", "neuron", "negative", "diversity"];

export interface ModelForm {
  kind: ModelKind;
  tvName: string;
  tvWeights: string; // "" = random weights
  weightsFile: string; // torchvision / lucent local weights
  lucentPretrained: boolean;
  path: string; // checkpoint / torchscript
  arch: string; // checkpoint state dicts
  factoryFile: string;
  factoryFunction: string;
  inputSize: string;
  mean: string;
  std: string;
}

export interface DatasetForm {
  kind: DatasetKind;
  size: string;
  seed: string;
  root: string;
  maxImages: string;
}

export interface SettingsForm {
  examples: boolean;
  k: string;
  batchSize: string;
  featurevis: boolean;
  steps: string;
  fvSize: string;
  objectives: Objective[];
  weights: boolean;
  device: string;
  engine: "local" | "ray"; // ray: the server's Ray cluster (CIRCUITSCOPE_RAY_ADDRESS), see README
  slug: string;
}

export const initialModel: ModelForm = {
  kind: "demo",
  tvName: "resnet18",
  tvWeights: "DEFAULT",
  weightsFile: "",
  lucentPretrained: true,
  path: "",
  arch: "",
  factoryFile: "",
  factoryFunction: "build",
  inputSize: "",
  mean: "",
  std: "",
};

export const initialDataset: DatasetForm = { kind: "concepts", size: "2000", seed: "0", root: "", maxImages: "" };

export const initialSettings: SettingsForm = {
  examples: true,
  k: "10",
  batchSize: "64",
  featurevis: true,
  steps: "512",
  fvSize: "",
  objectives: [...DEFAULT_OBJECTIVES],
  weights: true,
  device: "cpu",
  engine: "local",
  slug: "",
};

/** A problem with one field, shown next to it; the form cannot be started while any exist. */
export type Problems = Record<string, string>;

function int(v: string, key: string, problems: Problems, min: number, max: number): number | undefined {
  if (v.trim() === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) problems[key] = `a whole number from ${min} to ${max}`;
  return n;
}

function triple(v: string, key: string, problems: Problems): number[] | undefined {
  if (v.trim() === "") return undefined;
  const parts = v.split(/[\s,]+/).filter(Boolean).map(Number);
  if (!(parts.length === 1 || parts.length === 3) || parts.some((x) => !Number.isFinite(x)))
    problems[key] = "one number, or three separated by commas (R, G, B)";
  return parts;
}

/** The model part of the run description (also what "Discover layers" sends). */
export function modelSpec(m: ModelForm, problems: Problems = {}): Record<string, unknown> {
  const spec: Record<string, unknown> = { kind: m.kind };
  switch (m.kind) {
    case "torchvision":
      if (!m.tvName.trim()) problems["model.name"] = "the torchvision model name, e.g. resnet18";
      spec.name = m.tvName.trim();
      spec.weights = m.tvWeights.trim() || null;
      if (m.weightsFile.trim()) spec.weights_file = m.weightsFile.trim();
      break;
    case "lucent":
      spec.pretrained = m.lucentPretrained;
      if (m.weightsFile.trim()) spec.weights_file = m.weightsFile.trim();
      break;
    case "checkpoint":
      if (!m.path.trim()) problems["model.path"] = "pick the checkpoint file";
      spec.path = m.path.trim();
      if (m.arch.trim()) spec.arch = m.arch.trim();
      break;
    case "torchscript":
      if (!m.path.trim()) problems["model.path"] = "pick the TorchScript file";
      spec.path = m.path.trim();
      break;
    case "factory": {
      if (!m.factoryFile.trim()) problems["model.target"] = "pick the Python file that builds the model";
      else if (!m.factoryFile.trim().endsWith(".py")) problems["model.target"] = "the factory must be a .py file";
      const fn = m.factoryFunction.trim();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(fn)) problems["model.function"] = "a Python function name, e.g. build";
      spec.target = `${m.factoryFile.trim()}:${fn}`;
      break;
    }
  }
  const size = int(m.inputSize, "model.input_size", problems, 8, 4096);
  if (size !== undefined) spec.input_size = size;
  const mean = triple(m.mean, "model.mean", problems);
  if (mean) spec.mean = mean;
  const std = triple(m.std, "model.std", problems);
  if (std) {
    if (std.some((x) => x <= 0)) problems["model.std"] = "std must be positive";
    spec.std = std;
  }
  return spec;
}

export function datasetSpec(d: DatasetForm, problems: Problems = {}): Record<string, unknown> {
  if (d.kind === "concepts") {
    const spec: Record<string, unknown> = { kind: "concepts" };
    const size = int(d.size, "dataset.size", problems, 1, 10_000_000);
    if (size !== undefined) spec.size = size;
    const seed = int(d.seed, "dataset.seed", problems, 0, 2 ** 31 - 1);
    if (seed !== undefined) spec.seed = seed;
    return spec;
  }
  if (!d.root.trim()) problems["dataset.root"] = "pick the image folder";
  const spec: Record<string, unknown> = { kind: "folder", root: d.root.trim() };
  const max = int(d.maxImages, "dataset.max_images", problems, 1, 100_000_000);
  if (max !== undefined) spec.max_images = max;
  const seed = int(d.seed, "dataset.seed", problems, 0, 2 ** 31 - 1);
  if (seed !== undefined && max !== undefined) spec.seed = seed;
  return spec;
}

/** What the backend would call the model when no slug is given (compute/pipeline.py default_model_slug). */
export function defaultSlug(spec: Record<string, unknown>): string {
  const kind = String(spec.kind ?? "model");
  let base = String(spec.name ?? "") || ({ demo: "conceptnet", lucent: "inceptionv1" } as Record<string, string>)[kind] || "";
  if (!base) {
    const p = String(spec.path ?? spec.target ?? kind);
    const file = p.split(/[\\/]/).pop() ?? p;
    base = file.split(":")[0].replace(/\.[^.]*$/, "");
  }
  return base.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100) || "model";
}

export function buildRunDescription(
  m: ModelForm,
  d: DatasetForm,
  s: SettingsForm,
  layers: string[],
): { description: RunDescription; problems: Problems } {
  const problems: Problems = {};
  const model = modelSpec(m, problems);
  const dataset = datasetSpec(d, problems);
  if (!layers.length) problems.layers = "choose at least one layer (Discover layers, or type a name or pattern)";
  const slug = s.slug.trim() || defaultSlug(model);
  if (!/^[a-z0-9][a-z0-9_.-]{0,99}$/.test(slug))
    problems.model_slug = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit";
  const device = s.device.trim();
  if (!(device === "cpu" || device === "mps" || /^cuda(:\d+)?$/.test(device)))
    problems.device = "cpu, cuda, cuda:N or mps";
  const description: RunDescription = { model, dataset, layers, model_slug: slug, device };
  if (s.engine === "ray") description.engine = "ray";
  const examples: Record<string, unknown> = { enabled: s.examples };
  const k = int(s.k, "examples.k", problems, 1, 200);
  if (k !== undefined) examples.k = k;
  const bs = int(s.batchSize, "examples.batch_size", problems, 1, 4096);
  if (bs !== undefined) examples.batch_size = bs;
  const fv: Record<string, unknown> = { enabled: s.featurevis };
  const steps = int(s.steps, "featurevis.steps", problems, 1, 100_000);
  if (steps !== undefined) fv.steps = steps;
  const size = int(s.fvSize, "featurevis.size", problems, 8, 1024);
  if (size !== undefined) fv.size = size;
  fv.objectives = OBJECTIVES.filter((o) => s.objectives.includes(o));
  if (s.featurevis && !s.objectives.length) problems["featurevis.objectives"] = "pick at least one objective";
  description.examples = examples;
  description.featurevis = fv;
  description.weights = { enabled: s.weights };
  return { description, problems };
}

// ------------------------------------------------------------------------------------------- TOML

const bareKey = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

function tomlValue(v: unknown): string {
  if (v === null || v === undefined) return '""';
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (typeof v === "object")
    return `{ ${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => `${bareKey(k)} = ${tomlValue(x)}`)
      .join(", ")} }`;
  return JSON.stringify(String(v));
}

/** A run description as a TOML run file (`circuitscope jobs submit run.toml` takes the same). TOML has no
 * null: keys whose value is null are written as comments. */
export function toToml(desc: Record<string, unknown>): string {
  const top: string[] = [];
  const tables: string[] = [];
  for (const [k, v] of Object.entries(desc)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const lines = [`[${bareKey(k)}]`];
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) {
        if (v2 === null || v2 === undefined) lines.push(`# ${bareKey(k2)} = (none)`);
        else lines.push(`${bareKey(k2)} = ${tomlValue(v2)}`);
      }
      tables.push(lines.join("\n"));
    } else if (v === null || v === undefined) top.push(`# ${bareKey(k)} = (none)`);
    else top.push(`${bareKey(k)} = ${tomlValue(v)}`);
  }
  return [top.join("\n"), ...tables].filter(Boolean).join("\n\n") + "\n";
}

// ---------------------------------------------------------------------- description -> form (run again)

const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));
const list = (v: unknown) => (Array.isArray(v) ? v.join(", ") : str(v));

/** The form state that gives back a stored run description ("Run again with changes" from a job page). */
export function formsFromDescription(desc: RunDescription): {
  model: ModelForm;
  dataset: DatasetForm;
  settings: SettingsForm;
  layers: string[];
} {
  const m = desc.model ?? {};
  const kind = (["demo", "torchvision", "lucent", "checkpoint", "torchscript", "factory"].includes(String(m.kind))
    ? m.kind
    : "demo") as ModelKind;
  const target = str(m.target);
  const cut = target.lastIndexOf(":");
  const model: ModelForm = {
    ...initialModel,
    kind,
    tvName: kind === "torchvision" ? str(m.name) : initialModel.tvName,
    tvWeights: kind === "torchvision" ? str(m.weights) : initialModel.tvWeights,
    weightsFile: str(m.weights_file),
    lucentPretrained: m.pretrained === undefined ? true : Boolean(m.pretrained),
    path: str(m.path),
    arch: str(m.arch),
    factoryFile: cut > 0 ? target.slice(0, cut) : target,
    factoryFunction: cut > 0 ? target.slice(cut + 1) : initialModel.factoryFunction,
    inputSize: str(m.input_size),
    mean: list(m.mean),
    std: list(m.std),
  };
  const d = desc.dataset ?? {};
  const dataset: DatasetForm = {
    kind: d.kind === "folder" ? "folder" : "concepts",
    size: d.size === undefined ? initialDataset.size : str(d.size),
    seed: d.seed === undefined ? initialDataset.seed : str(d.seed),
    root: str(d.root),
    maxImages: str(d.max_images),
  };
  const ex = (desc.examples ?? {}) as Record<string, unknown>;
  const fv = (desc.featurevis ?? {}) as Record<string, unknown>;
  const w = (desc.weights ?? {}) as Record<string, unknown>;
  const settings: SettingsForm = {
    examples: ex.enabled !== false,
    k: ex.k === undefined ? initialSettings.k : str(ex.k),
    batchSize: ex.batch_size === undefined ? initialSettings.batchSize : str(ex.batch_size),
    featurevis: fv.enabled !== false,
    steps: fv.steps === undefined ? initialSettings.steps : str(fv.steps),
    fvSize: str(fv.size),
    objectives: Array.isArray(fv.objectives)
      ? OBJECTIVES.filter((o) => (fv.objectives as unknown[]).includes(o))
      : [...DEFAULT_OBJECTIVES],
    weights: w.enabled !== false,
    device: str(desc.device) || "cpu",
    engine: desc.engine === "ray" ? "ray" : "local",
    slug: str(desc.model_slug),
  };
  return { model, dataset, settings, layers: [...(desc.layers ?? [])] };
}
