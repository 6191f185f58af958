// 3. Images: generated concepts or an image folder, and "Check" (how many images, classes, unreadable files).
import { ApiError } from "../../../shared/api/client";
import { ErrorBox } from "../../../shared/ErrorBox";
import { PathField } from "../FileBrowser";
import { jobCalls, type DatasetCheckOut } from "../jobsApi";
import { FieldSet, NumberField, RadioCards, type RadioCard } from "../../../shared/form";
import { useAsyncAction } from "../../../shared/useAsyncAction";
import { datasetSpec, type DatasetForm, type DatasetKind, type Problems } from "./runDescription";
import type { ProblemOf } from "./formState";

const DATASET_KINDS: RadioCard<DatasetKind>[] = [
  { value: "concepts", title: "Generated concepts", hint: "shapes, textures, colours with known attributes (no files needed)" },
  { value: "folder", title: "Image folder", hint: "your images; sub-folders become classes" },
];

export function DatasetSection({
  dataset,
  onChange,
  problem,
  onInvalid,
  refusal,
}: {
  dataset: DatasetForm;
  onChange: (patch: Partial<DatasetForm>) => void;
  problem: ProblemOf;
  /** Check was pressed with problems in the fields: show them. */
  onInvalid: () => void;
  /** Start's refusal when it is about the images, else null. */
  refusal: unknown;
}) {
  const datasetKey = JSON.stringify(datasetSpec(dataset));
  const check = useAsyncAction(async (spec: Record<string, unknown>) => ({
    answer: await jobCalls.checkDataset(spec),
    key: JSON.stringify(spec),
  }));

  function runCheck() {
    const local: Problems = {};
    const spec = datasetSpec(dataset, local);
    if (Object.keys(local).length) onInvalid();
    else void check.run(spec);
  }

  const checked = check.result;
  return (
    <FieldSet title="3. Images" id="dataset" className="job-form-section">
      <RadioCards name="dataset-kind" label="Dataset source" value={dataset.kind} options={DATASET_KINDS} onChange={(kind) => onChange({ kind })} compact />
      {dataset.kind === "concepts" ? (
        <div className="field-row">
          <NumberField label="Number of images" name="dataset.size" value={dataset.size} onChange={(v) => onChange({ size: v })} problem={problem("dataset.size")} width={120} />
          <NumberField label="Seed" name="dataset.seed" value={dataset.seed} onChange={(v) => onChange({ seed: v })} problem={problem("dataset.seed")} width={80} />
        </div>
      ) : (
        <>
          <PathField label="Image folder" name="dataset.root" mode="dir" value={dataset.root} onChange={(v) => onChange({ root: v })} problem={problem("dataset.root")} />
          <div className="field-row">
            <NumberField label="At most (images)" name="dataset.max_images" value={dataset.maxImages} onChange={(v) => onChange({ maxImages: v })} problem={problem("dataset.max_images")} placeholder="all" width={110} />
            {dataset.maxImages.trim() && (
              <NumberField label="Sample seed" name="dataset.seed" value={dataset.seed} onChange={(v) => onChange({ seed: v })} problem={problem("dataset.seed")} width={80} />
            )}
          </div>
        </>
      )}
      <div className="actions">
        <button type="button" onClick={runCheck} disabled={check.pending}>
          {check.pending ? "Checking…" : "Check"}
        </button>
        {checked && checked.key !== datasetKey && <span className="notice inline">The images changed since the check.</span>}
      </div>
      {check.error !== null && (
        <ErrorBox error={check.error} title={check.error instanceof ApiError && check.error.status === 403 ? "Folder not allowed" : "Cannot use these images"} />
      )}
      {checked && checked.key === datasetKey && <DatasetCheck answer={checked.answer} />}
      {refusal !== null && <ErrorBox error={refusal} title="The server refused the images" />}
    </FieldSet>
  );
}

/** What Check found: the number of images, their classes, and the files that cannot be read. */
function DatasetCheck({ answer }: { answer: DatasetCheckOut }) {
  const { num_images: count, classes, unreadable } = answer;
  return (
    <div className="dataset-check" data-testid="dataset-check">
      <p>
        <strong>{count.toLocaleString()}</strong> image{count === 1 ? "" : "s"}
        {classes.length > 0 && (
          <>
            {" "}
            in <strong>{classes.length}</strong> class{classes.length === 1 ? "" : "es"}:{" "}
            <span className="muted">
              {classes.slice(0, 20).join(", ")}
              {classes.length > 20 ? ` … (${classes.length - 20} more)` : ""}
            </span>
          </>
        )}
      </p>
      {unreadable.length > 0 ? (
        <div className="notice">
          <strong>
            {unreadable.length} unreadable file{unreadable.length === 1 ? "" : "s"}
          </strong>{" "}
          (skipped during the run):
          <ul className="skipped">
            {unreadable.map((u) => (
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
  );
}
