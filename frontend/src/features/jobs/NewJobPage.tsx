import { useId, useMemo, useRef, useState, type ReactNode } from "react";
import { StartGuard } from "../../jobs/StartGuard";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { ApiError } from "../../api";
import { ErrorBox } from "../../components/ErrorBox";
import { useTitle } from "../../components/useApi";
import { PathField, SUFFIXES } from "../../jobs/FileBrowser";
import {
  isPattern,
  jobPaths,
  jobsApi,
  matchLayers,
  postJson,
  type DatasetCheckOut,
  type DiscoverOut,
  type Job,
  type RunDescription,
} from "../../jobs/jobsApi";
import {
  OBJECTIVES,
  buildRunDescription,
  datasetSpec,
  defaultSlug,
  formsFromDescription,
  initialDataset,
  initialModel,
  initialSettings,
  modelSpec,
  toToml,
  type DatasetForm,
  type ModelForm,
  type ModelKind,
  type Problems,
  type SettingsForm,
} from "./newJob/runDescription";

const MODEL_KINDS: { kind: ModelKind; title: string; hint: string }[] = [
  { kind: "demo", title: "Demo", hint: "the small ConceptNet, trained in about a minute on generated images" },
  { kind: "torchvision", title: "torchvision", hint: "a torchvision architecture by name, pretrained or from a weights file" },
  { kind: "lucent", title: "InceptionV1 (lucent)", hint: "Lucid's GoogLeNet, the model of the Circuits thread" },
  { kind: "checkpoint", title: "Checkpoint file", hint: "a saved nn.Module, or a state dict plus its architecture" },
  { kind: "torchscript", title: "TorchScript file", hint: "a torch.jit archive (layers are listed, but hooks are limited)" },
  { kind: "factory", title: "Python factory", hint: "a .py file and the function in it that returns an nn.Module" },
];

const TV_NAMES = [
  "alexnet", "vgg11", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2",
  "googlenet", "inception_v3", "densenet121", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
  "convnext_tiny", "regnet_y_400mf", "squeezenet1_1", "shufflenet_v2_x1_0", "resnext50_32x4d",
];

/** A labelled text input with its problem (if any) under it. */
function TextField({
  label,
  value,
  onChange,
  problem,
  placeholder,
  hint,
  name,
  width,
  list,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  problem?: string;
  placeholder?: string;
  hint?: ReactNode;
  name: string;
  width?: number;
  list?: string;
}) {
  const id = useId();
  return (
    <div className={`field${problem ? " has-problem" : ""}`} data-field={name}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        placeholder={placeholder}
        list={list}
        style={width ? { width } : undefined}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={!!problem}
      />
      {hint && <div className="muted small">{hint}</div>}
      {problem && <div className="field-problem">{problem}</div>}
    </div>
  );
}

function Check({ label, checked, onChange }: { label: ReactNode; checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} /> {label}
    </label>
  );
}

function Section({ title, children, id }: { title: string; children: ReactNode; id: string }) {
  return (
    <section className="panel job-form-section" id={id} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{title}</h2>
      {children}
    </section>
  );
}

/** The message of a server error, and which part of the form it is about (for 403/422 on Start). */
function errorPlace(err: unknown): "model" | "dataset" | "layers" | "settings" | "form" {
  const msg = err instanceof Error ? err.message : String(err);
  if (/\bdataset\b/i.test(msg)) return "dataset";
  if (/\bmodel (path|weights_file|class_names|factory)\b|factory/i.test(msg)) return "model";
  if (/\blayers?\b/i.test(msg) && !/unknown key/i.test(msg)) return "layers";
  return "form";
}

/** "New computation": model source, layers, dataset, settings -> a run description -> POST /api/jobs. */
export function NewJobPage() {
  useTitle("New computation");
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: RunDescription } | null)?.from;
  const init = useMemo(() => (from ? formsFromDescription(from) : null), [from]);

  const [model, setModel] = useState<ModelForm>(init?.model ?? initialModel);
  const [dataset, setDataset] = useState<DatasetForm>(init?.dataset ?? initialDataset);
  const [settings, setSettings] = useState<SettingsForm>(init?.settings ?? initialSettings);
  const [layers, setLayers] = useState<string[]>(init?.layers ?? []);
  const [showAdvanced, setShowAdvanced] = useState(!!(init && (init.model.inputSize || init.model.mean || init.model.std)));

  const [discovered, setDiscovered] = useState<DiscoverOut | null>(null);
  const [discoveredFor, setDiscoveredFor] = useState("");
  const [discoverError, setDiscoverError] = useState<unknown>(null);
  const [discovering, setDiscovering] = useState(false);

  const [dsCheck, setDsCheck] = useState<DatasetCheckOut | null>(null);
  const [dsCheckedFor, setDsCheckedFor] = useState("");
  const [dsError, setDsError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);

  const [filter, setFilter] = useState("");
  const [pattern, setPattern] = useState("");

  const [submitError, setSubmitError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const [showProblems, setShowProblems] = useState(false);
  const [previewFormat, setPreviewFormat] = useState<"toml" | "json">("toml");
  const startRef = useRef<HTMLDivElement>(null);

  const m = (patch: Partial<ModelForm>) => setModel((s) => ({ ...s, ...patch }));
  const d = (patch: Partial<DatasetForm>) => setDataset((s) => ({ ...s, ...patch }));
  const st = (patch: Partial<SettingsForm>) => setSettings((s) => ({ ...s, ...patch }));

  const modelKey = JSON.stringify(modelSpec(model));
  const datasetKey = JSON.stringify(datasetSpec(dataset));
  const stale = discovered !== null && discoveredFor !== modelKey;
  const names = useMemo(() => (discovered ? discovered.layers.map((l) => l.name) : []), [discovered]);

  const { description, problems } = useMemo(() => {
    const out = buildRunDescription(model, dataset, settings, layers);
    if (discovered && !stale) {
      const unknown = layers.filter((l) => !matchLayers([l], names).length);
      if (unknown.length) {
        out.problems.layers =
          `Unknown layer${unknown.length > 1 ? "s" : ""} for this model: ` +
          unknown.map((u) => `'${u}'${isPattern(u) ? " (pattern matches nothing)" : ""}`).join(", ") +
          `. Remove ${unknown.length > 1 ? "them" : "it"} or pick from the list.`;
      }
    }
    return out;
  }, [model, dataset, settings, layers, discovered, stale, names]);

  // Problems show once Start (or Discover/Check) was tried; an unknown layer shows as soon as it is typed.
  const shown = (key: string): string | undefined =>
    showProblems || (key === "layers" && layers.length > 0) ? problems[key] : undefined;
  const placeErr = submitError !== null ? errorPlace(submitError) : null;

  async function discover() {
    const local: Problems = {};
    const spec = modelSpec(model, local);
    if (Object.keys(local).length) {
      setShowProblems(true);
      return;
    }
    setDiscovering(true);
    setDiscoverError(null);
    try {
      const out = await postJson<DiscoverOut>(jobsApi.layers(), { model: spec });
      setDiscovered(out);
      setDiscoveredFor(JSON.stringify(spec));
      const found = new Set(out.layers.map((l) => l.name));
      setLayers((sel) => sel.filter((l) => isPattern(l) || found.has(l)));
    } catch (err) {
      setDiscoverError(err);
      setDiscovered(null);
    } finally {
      setDiscovering(false);
    }
  }

  async function checkDataset() {
    const local: Problems = {};
    const spec = datasetSpec(dataset, local);
    if (Object.keys(local).length) {
      setShowProblems(true);
      return;
    }
    setChecking(true);
    setDsError(null);
    try {
      setDsCheck(await postJson<DatasetCheckOut>(jobsApi.dataset(), { dataset: spec }));
      setDsCheckedFor(JSON.stringify(spec));
    } catch (err) {
      setDsError(err);
      setDsCheck(null);
    } finally {
      setChecking(false);
    }
  }

  async function start() {
    setShowProblems(true);
    setSubmitError(null);
    if (Object.keys(problems).length) {
      startRef.current?.scrollIntoView({ block: "nearest" });
      return;
    }
    setSubmitting(true);
    try {
      const job = await postJson<Job>(jobsApi.jobs(), description);
      navigate(jobPaths.job(job.id));
    } catch (err) {
      setSubmitError(err);
      setSubmitting(false);
    }
  }

  const toggle = (name: string, on: boolean) =>
    setLayers((sel) => (on ? (sel.includes(name) ? sel : [...sel, name]) : sel.filter((l) => l !== name)));

  const filtered = useMemo(() => {
    if (!discovered) return [];
    const f = filter.trim().toLowerCase();
    if (!f) return discovered.layers;
    if (isPattern(f)) {
      const hits = new Set(matchLayers([f], names.map((n) => n.toLowerCase())));
      return discovered.layers.filter((l) => hits.has(l.name.toLowerCase()));
    }
    return discovered.layers.filter((l) => l.name.toLowerCase().includes(f) || l.module_type.toLowerCase().includes(f));
  }, [discovered, filter, names]);
  const patternHits = pattern.trim() && discovered ? matchLayers([pattern.trim()], names) : [];
  const selectedNames = new Set(discovered ? matchLayers(layers, names) : []);
  const selectedUnits = discovered
    ? discovered.layers.filter((l) => selectedNames.has(l.name)).reduce((a, l) => a + (l.channels ?? 0), 0)
    : 0;
  const extraItems = layers.filter((l) => isPattern(l) || !names.includes(l));

  const preview = previewFormat === "toml" ? toToml(description as unknown as Record<string, unknown>) : JSON.stringify(description, null, 2);

  return (
    <div className="new-job-page">
      <nav className="crumbs">
        <Link to={jobPaths.list()}>Computations</Link> ›
      </nav>
      <h1>New computation</h1>
      <p className="muted">
        Pick a model and images; circuitscope computes dataset examples, feature visualizations and weights for the
        layers you choose. Files are chosen from the folders this server allows; the work runs in{" "}
        <code>circuitscope worker</code>, and you can watch it on the job page.
      </p>

      <div className="job-form">
        <div className="job-form-main">
          <Section title="1. Model" id="model">
            <div className="kind-choice" role="radiogroup" aria-label="Model source">
              {MODEL_KINDS.map((k) => (
                <label key={k.kind} className={`kind-option${model.kind === k.kind ? " selected" : ""}`}>
                  <input type="radio" name="model-kind" value={k.kind} checked={model.kind === k.kind} onChange={() => m({ kind: k.kind })} />
                  <span>
                    <strong>{k.title}</strong>
                    <span className="muted small">{k.hint}</span>
                  </span>
                </label>
              ))}
            </div>

            {model.kind === "torchvision" && (
              <div className="field-row">
                <TextField label="Architecture" name="model.name" value={model.tvName} onChange={(v) => m({ tvName: v })} problem={shown("model.name")} list="tv-names" placeholder="resnet18" />
                <datalist id="tv-names">
                  {TV_NAMES.map((n) => (
                    <option key={n} value={n} />
                  ))}
                </datalist>
                <div className="field" data-field="model.weights">
                  <label htmlFor="tv-weights">Pretrained weights</label>
                  <select id="tv-weights" value={model.tvWeights} onChange={(e) => m({ tvWeights: e.target.value })}>
                    <option value="DEFAULT">DEFAULT (best available)</option>
                    <option value="IMAGENET1K_V1">IMAGENET1K_V1</option>
                    <option value="IMAGENET1K_V2">IMAGENET1K_V2</option>
                    <option value="">none (random weights)</option>
                  </select>
                  <div className="muted small">downloaded once by torchvision; offline, give a local weights file</div>
                </div>
              </div>
            )}
            {(model.kind === "torchvision" || model.kind === "lucent") && (
              <PathField label="Local weights file (optional)" name="model.weights_file" mode="file" suffixes={SUFFIXES.weights} value={model.weightsFile} onChange={(v) => m({ weightsFile: v })} />
            )}
            {model.kind === "lucent" && (
              <Check label="pretrained (Lucid's weights, inception5h.pth)" checked={model.lucentPretrained} onChange={(v) => m({ lucentPretrained: v })} />
            )}
            {(model.kind === "checkpoint" || model.kind === "torchscript") && (
              <PathField
                label={model.kind === "checkpoint" ? "Checkpoint file" : "TorchScript file"}
                name="model.path"
                mode="file"
                suffixes={model.kind === "checkpoint" ? SUFFIXES.checkpoint : SUFFIXES.torchscript}
                value={model.path}
                onChange={(v) => m({ path: v })}
                problem={shown("model.path")}
              />
            )}
            {model.kind === "checkpoint" && (
              <TextField
                label="Architecture (for a state dict)"
                name="model.arch"
                value={model.arch}
                onChange={(v) => m({ arch: v })}
                placeholder="resnet18, or /path/to/file.py:build"
                hint="a torchvision name or a factory file.py:function; not needed when the file holds a whole model"
              />
            )}
            {model.kind === "factory" && (
              <div className="field-row">
                <PathField label="Python file" name="model.target" mode="file" suffixes={SUFFIXES.python} value={model.factoryFile} onChange={(v) => m({ factoryFile: v })} problem={shown("model.target")} />
                <TextField label="Function" name="model.function" value={model.factoryFunction} onChange={(v) => m({ factoryFunction: v })} problem={shown("model.function")} width={140} hint="called without arguments" />
              </div>
            )}

            <button type="button" className="link-button small" onClick={() => setShowAdvanced((v) => !v)} aria-expanded={showAdvanced}>
              {showAdvanced ? "▾" : "▸"} Input size and normalization (optional)
            </button>
            {showAdvanced && (
              <div className="field-row">
                <TextField label="Input size (px)" name="model.input_size" value={model.inputSize} onChange={(v) => m({ inputSize: v })} problem={shown("model.input_size")} placeholder="model default" width={110} />
                <TextField label="Mean" name="model.mean" value={model.mean} onChange={(v) => m({ mean: v })} problem={shown("model.mean")} placeholder="0.485, 0.456, 0.406" />
                <TextField label="Std" name="model.std" value={model.std} onChange={(v) => m({ std: v })} problem={shown("model.std")} placeholder="0.229, 0.224, 0.225" />
              </div>
            )}

            <div className="actions">
              <button type="button" className="primary" onClick={discover} disabled={discovering}>
                {discovering ? "Loading the model…" : "Discover layers"}
              </button>
              {discovered && !stale && (
                <span className="muted" data-testid="discover-result">
                  <strong>{discovered.name}</strong>: {discovered.layers.length} layers · input {discovered.input_size}px
                  {discovered.class_count ? ` · ${discovered.class_count} classes` : ""}
                </span>
              )}
              {stale && <span className="notice inline">The model changed since its layers were listed: discover again.</span>}
            </div>
            {discoverError !== null && (
              <ErrorBox error={discoverError} title={discoverError instanceof ApiError && discoverError.status === 403 ? "File not allowed" : "Could not load the model"} />
            )}
            {placeErr === "model" && <ErrorBox error={submitError} title="The server refused the model" />}
          </Section>

          <Section title="2. Layers" id="layers">
            {!discovered && (
              <p className="muted">
                Discover the model's layers to pick them from a list, or type layer names or glob patterns (e.g.{" "}
                <code>layer1.*</code>) below.
              </p>
            )}
            {discovered && (
              <>
                <div className="layer-tools">
                  <input className="mono" placeholder="filter: name or type (or a * pattern)" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter layers" />
                  <button type="button" className="small" onClick={() => setLayers((sel) => [...sel, ...filtered.map((l) => l.name).filter((n) => !sel.includes(n))])} disabled={!filtered.length}>
                    Select shown ({filtered.length})
                  </button>
                  <button type="button" className="small" onClick={() => setLayers([])} disabled={!layers.length}>
                    Clear
                  </button>
                  <span className="muted small">
                    {selectedNames.size} layer{selectedNames.size === 1 ? "" : "s"} selected · {selectedUnits.toLocaleString()} units
                  </span>
                </div>
                <div className="layer-checklist">
                  <table className="layers">
                    <thead>
                      <tr>
                        <th />
                        <th>Layer</th>
                        <th>Type</th>
                        <th>Output shape</th>
                        <th className="num">Units</th>
                      </tr>
                    </thead>
                    <tbody>
                      {filtered.map((l) => (
                        <tr key={l.name} className={selectedNames.has(l.name) ? "selected" : ""}>
                          <td>
                            <input
                              type="checkbox"
                              aria-label={`layer ${l.name}`}
                              checked={layers.includes(l.name)}
                              disabled={!layers.includes(l.name) && selectedNames.has(l.name)}
                              title={!layers.includes(l.name) && selectedNames.has(l.name) ? "selected by a pattern" : undefined}
                              onChange={(e) => toggle(l.name, e.target.checked)}
                            />
                          </td>
                          <td className="layer-name">{l.name}</td>
                          <td className="muted">{l.module_type}</td>
                          <td className="muted mono">{l.output_shape ? l.output_shape.join("×") : "?"}</td>
                          <td className="num">{l.channels ?? "?"}</td>
                        </tr>
                      ))}
                      {!filtered.length && (
                        <tr>
                          <td colSpan={5} className="muted">
                            No layer matches “{filter}”.
                          </td>
                        </tr>
                      )}
                    </tbody>
                  </table>
                </div>
              </>
            )}
            <div className="field-row">
              <form
                className="field"
                onSubmit={(e) => {
                  e.preventDefault();
                  const p = pattern.trim();
                  if (p) setLayers((sel) => (sel.includes(p) ? sel : [...sel, p]));
                  setPattern("");
                }}
              >
                <label htmlFor="layer-pattern">Add a layer name or pattern</label>
                <div className="path-input">
                  <input id="layer-pattern" className="mono" value={pattern} onChange={(e) => setPattern(e.target.value)} placeholder="e.g. conv* or layer2.*.conv1" />
                  <button type="submit" disabled={!pattern.trim()}>
                    Add
                  </button>
                  {discovered && isPattern(pattern) && (
                    <button
                      type="button"
                      onClick={() => {
                        setLayers((sel) => [...sel, ...patternHits.filter((n) => !sel.includes(n))]);
                        setPattern("");
                      }}
                      disabled={!patternHits.length}
                    >
                      Select the {patternHits.length} matching
                    </button>
                  )}
                </div>
                <div className="muted small">
                  {discovered && pattern.trim()
                    ? `matches ${patternHits.length} of the discovered layers`
                    : "* matches any characters, dots included; a pattern is resolved by the worker"}
                </div>
              </form>
            </div>
            {extraItems.length > 0 && (
              <div className="chips" aria-label="Typed layers and patterns">
                {extraItems.map((l) => (
                  <span key={l} className="chip mono">
                    {l}
                    <button type="button" className="chip-x" aria-label={`remove ${l}`} onClick={() => toggle(l, false)}>
                      ×
                    </button>
                  </span>
                ))}
              </div>
            )}
            {shown("layers") && (
              <div className="field-problem" role="alert" data-field="layers">
                {shown("layers")}
              </div>
            )}
            {placeErr === "layers" && <ErrorBox error={submitError} />}
          </Section>

          <Section title="3. Images" id="dataset">
            <div className="kind-choice compact" role="radiogroup" aria-label="Dataset source">
              <label className={`kind-option${dataset.kind === "concepts" ? " selected" : ""}`}>
                <input type="radio" name="dataset-kind" checked={dataset.kind === "concepts"} onChange={() => d({ kind: "concepts" })} />
                <span>
                  <strong>Generated concepts</strong>
                  <span className="muted small">shapes, textures, colours with known attributes (no files needed)</span>
                </span>
              </label>
              <label className={`kind-option${dataset.kind === "folder" ? " selected" : ""}`}>
                <input type="radio" name="dataset-kind" checked={dataset.kind === "folder"} onChange={() => d({ kind: "folder" })} />
                <span>
                  <strong>Image folder</strong>
                  <span className="muted small">your images; sub-folders become classes</span>
                </span>
              </label>
            </div>
            {dataset.kind === "concepts" ? (
              <div className="field-row">
                <TextField label="Number of images" name="dataset.size" value={dataset.size} onChange={(v) => d({ size: v })} problem={shown("dataset.size")} width={120} />
                <TextField label="Seed" name="dataset.seed" value={dataset.seed} onChange={(v) => d({ seed: v })} problem={shown("dataset.seed")} width={80} />
              </div>
            ) : (
              <>
                <PathField label="Image folder" name="dataset.root" mode="dir" value={dataset.root} onChange={(v) => d({ root: v })} problem={shown("dataset.root")} />
                <div className="field-row">
                  <TextField label="At most (images)" name="dataset.max_images" value={dataset.maxImages} onChange={(v) => d({ maxImages: v })} problem={shown("dataset.max_images")} placeholder="all" width={110} />
                  {dataset.maxImages.trim() && (
                    <TextField label="Sample seed" name="dataset.seed" value={dataset.seed} onChange={(v) => d({ seed: v })} problem={shown("dataset.seed")} width={80} />
                  )}
                </div>
              </>
            )}
            <div className="actions">
              <button type="button" onClick={checkDataset} disabled={checking}>
                {checking ? "Checking…" : "Check"}
              </button>
              {dsCheck && dsCheckedFor !== datasetKey && <span className="notice inline">The images changed since the check.</span>}
            </div>
            {dsError !== null && <ErrorBox error={dsError} title={dsError instanceof ApiError && dsError.status === 403 ? "Folder not allowed" : "Cannot use these images"} />}
            {dsCheck && dsCheckedFor === datasetKey && (
              <div className="dataset-check" data-testid="dataset-check">
                <p>
                  <strong>{dsCheck.num_images.toLocaleString()}</strong> image{dsCheck.num_images === 1 ? "" : "s"}
                  {dsCheck.classes.length > 0 && (
                    <>
                      {" "}
                      in <strong>{dsCheck.classes.length}</strong> class{dsCheck.classes.length === 1 ? "" : "es"}:{" "}
                      <span className="muted">
                        {dsCheck.classes.slice(0, 20).join(", ")}
                        {dsCheck.classes.length > 20 ? ` … (${dsCheck.classes.length - 20} more)` : ""}
                      </span>
                    </>
                  )}
                </p>
                {dsCheck.unreadable.length > 0 ? (
                  <div className="notice">
                    <strong>
                      {dsCheck.unreadable.length} unreadable file{dsCheck.unreadable.length === 1 ? "" : "s"}
                    </strong>{" "}
                    (skipped during the run):
                    <ul className="skipped">
                      {dsCheck.unreadable.map((u) => (
                        <li key={u.ref}>
                          <span className="mono">{u.ref}</span> — {u.reason}
                        </li>
                      ))}
                    </ul>
                  </div>
                ) : (
                  <p className="muted small">All images could be read.</p>
                )}
              </div>
            )}
            {placeErr === "dataset" && <ErrorBox error={submitError} title="The server refused the images" />}
          </Section>

          <Section title="4. What to compute" id="settings">
            <div className="settings-grid">
              <div>
                <Check label={<strong>Dataset examples</strong>} checked={settings.examples} onChange={(v) => st({ examples: v })} />
                <div className="field-row">
                  <TextField label="k (top and bottom per unit)" name="examples.k" value={settings.k} onChange={(v) => st({ k: v })} problem={shown("examples.k")} width={80} />
                  <TextField label="Batch size" name="examples.batch_size" value={settings.batchSize} onChange={(v) => st({ batchSize: v })} problem={shown("examples.batch_size")} width={80} />
                </div>
              </div>
              <div>
                <Check label={<strong>Feature visualization</strong>} checked={settings.featurevis} onChange={(v) => st({ featurevis: v })} />
                <div className="field-row">
                  <TextField label="Steps" name="featurevis.steps" value={settings.steps} onChange={(v) => st({ steps: v })} problem={shown("featurevis.steps")} width={80} hint="512 as in Lucid" />
                  <TextField label="Size (px)" name="featurevis.size" value={settings.fvSize} onChange={(v) => st({ fvSize: v })} problem={shown("featurevis.size")} placeholder="input size" width={90} />
                </div>
                <div className="objectives" data-field="featurevis.objectives">
                  {OBJECTIVES.map((o) => (
                    <Check
                      key={o}
                      label={o}
                      checked={settings.objectives.includes(o)}
                      onChange={(v) => st({ objectives: v ? [...settings.objectives, o] : settings.objectives.filter((x) => x !== o) })}
                    />
                  ))}
                  {shown("featurevis.objectives") && <div className="field-problem">{shown("featurevis.objectives")}</div>}
                </div>
              </div>
              <div>
                <Check label={<strong>Weights and connections</strong>} checked={settings.weights} onChange={(v) => st({ weights: v })} />
                <div className="field-row">
                  <TextField label="Device" name="device" value={settings.device} onChange={(v) => st({ device: v })} problem={shown("device")} list="devices" width={90} />
                  <datalist id="devices">
                    <option value="cpu" />
                    <option value="cuda" />
                    <option value="cuda:0" />
                    <option value="mps" />
                  </datalist>
                  <div className="field" data-field="engine">
                    <label htmlFor="engine">Engine</label>
                    <select id="engine" name="engine" style={{ width: 180 }} value={settings.engine} onChange={(e) => st({ engine: e.target.value as "local" | "ray" })}>
                      <option value="local">local (the worker)</option>
                      <option value="ray">Ray cluster</option>
                    </select>
                    <div className="muted small">
                      {settings.engine === "ray"
                        ? "spread over the server's Ray cluster; same records"
                        : "runs in the worker process"}
                    </div>
                  </div>
                  <TextField
                    label="Model name (slug)"
                    name="model_slug"
                    value={settings.slug}
                    onChange={(v) => st({ slug: v })}
                    problem={shown("model_slug")}
                    placeholder={defaultSlug(modelSpec(model))}
                    hint="its pages are at /models/<slug>"
                  />
                </div>
              </div>
            </div>
          </Section>

          <div className="start-row" ref={startRef}>
            <StartGuard
              description={description}
              units={discovered && !stale ? selectedUnits : null}
              slug={settings.slug.trim() || defaultSlug(modelSpec(model))}
              submitting={submitting}
              hasProblems={Object.keys(problems).length > 0}
              onStart={start}
            />
            {showProblems && Object.keys(problems).length > 0 && (
              <div className="field-problem" role="alert" data-testid="form-problems">
                Fix first:{" "}
                {Object.entries(problems)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join("; ")}
              </div>
            )}
          </div>
          {submitError !== null && (
            <ErrorBox
              error={submitError}
              title={
                submitError instanceof ApiError && submitError.status === 403
                  ? "Not allowed"
                  : submitError instanceof ApiError && submitError.status === 422
                    ? "The server refused this run description"
                    : undefined
              }
            />
          )}
        </div>

        <aside className="panel run-preview">
          <div className="panel-head">
            <h2>Run description</h2>
            <span className="seg">
              <button type="button" className={`small${previewFormat === "toml" ? " active" : ""}`} onClick={() => setPreviewFormat("toml")}>
                TOML
              </button>
              <button type="button" className={`small${previewFormat === "json" ? " active" : ""}`} onClick={() => setPreviewFormat("json")}>
                JSON
              </button>
            </span>
          </div>
          <pre className="mono" data-testid="run-preview">
            {preview}
          </pre>
          <div className="muted small">
            The same as a run file for <code>circuitscope jobs submit run.toml</code>.{" "}
            <button type="button" className="link-button small" onClick={() => navigator.clipboard?.writeText(preview).catch(() => undefined)}>
              copy
            </button>
          </div>
        </aside>
      </div>
    </div>
  );
}
