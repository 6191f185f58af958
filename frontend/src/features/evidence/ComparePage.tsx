import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { canWrite, useMe } from "../annotate/annotateApi";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { useKeys } from "../../shared/keys";
import { Loading } from "../../shared/Loading";
import { comparePage, evidenceCalls, pct, type Answer, type CompareResults, type CompareTask, type UnitEvidence } from "./evidenceApi";
import { Plot } from "./LinePlot";
import { pagePaths } from "../../shared/paths";
import { useTitle } from "../../shared/useResource";

const ANSWERS: { value: Answer; text: string; key: string }[] = [
  { value: "fits", text: "Fits the label", key: "1" },
  { value: "partly", text: "Partly", key: "2" },
  { value: "not", text: "Does not fit", key: "3" },
];

/** The blind human comparison of a label (Curve Detectors): images sampled evenly across the unit's activation
 * range, shown without their activation in a random order; three answers; then share per activation bin. */
export function ComparePage() {
  const { model = "", layer = "", index: indexParam = "" } = useParams();
  const index = Number(indexParam);
  const [search] = useSearchParams();
  const labelId = Number(search.get("label") || 0);
  useTitle(`Blind comparison · ${layer}:${indexParam} · ${model}`);
  return (
    <div className="page compare-page">
      <div className="crumbs small">
        <Link to={pagePaths.model(model)}>{model}</Link> / <Link to={pagePaths.layer(model, layer)}>{layer}</Link> /{" "}
        <Link to={pagePaths.unit(model, layer, index)}>unit {index}</Link> / blind comparison
      </div>
      {labelId ? <CompareTaskView model={model} layer={layer} index={index} labelId={labelId} /> : <PickLabel model={model} layer={layer} index={index} />}
    </div>
  );
}

function PickLabel({ model, layer, index }: { model: string; layer: string; index: number }) {
  const [data, setData] = useState<UnitEvidence>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    evidenceCalls.unitEvidence(model, layer, index).then(setData).catch(setError);
  }, [model, layer, index]);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading />;
  if (!data.labels.length)
    return <EmptyState title="This unit has no label to compare against">Label the unit first, on <Link to={pagePaths.unit(model, layer, index)}>its page</Link>.</EmptyState>;
  return (
    <section className="panel">
      <h2>Which label?</h2>
      <ul>
        {data.labels.map((l) => (
          <li key={l.id}>
            <Link to={comparePage(model, layer, index, l.id)}>{l.label}</Link> <span className="muted small">— {l.annotator}, v{l.version}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function CompareTaskView({ model, layer, index, labelId }: { model: string; layer: string; index: number; labelId: number }) {
  const { me } = useMe();
  const writer = canWrite(me);
  const [task, setTask] = useState<CompareTask>();
  const [error, setError] = useState<unknown>();
  const [answers, setAnswers] = useState<Record<string, Answer>>({});
  const [cursor, setCursor] = useState(0);
  const [showResults, setShowResults] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const load = useCallback(() => {
    setError(undefined);
    evidenceCalls.task(model, layer, index, labelId)
      .then((t) => {
        setTask(t);
        setAnswers(t.answers);
        const first = t.items.findIndex((it) => !t.answers[String(it.id)]);
        setCursor(first < 0 ? 0 : first);
        if (t.items.length && first < 0) setShowResults(true);
      })
      .catch(setError);
  }, [model, layer, index, labelId]);
  useEffect(load, [load]);

  const items = task?.items ?? [];
  const item = items[cursor];
  const answered = Object.keys(answers).length;
  const answer = (value: Answer) => {
    if (!task || !item || !writer) return;
    setSaveError(null);
    evidenceCalls.answer(model, layer, index, { label_id: task.label.id, label_version: task.label.version, item_id: item.id, answer: value })
      .then(() => {
        const next = { ...answers, [String(item.id)]: value };
        setAnswers(next);
        const after = items.findIndex((it, k) => k > cursor && !next[String(it.id)]);
        const any = items.findIndex((it) => !next[String(it.id)]);
        if (after >= 0) setCursor(after);
        else if (any >= 0) setCursor(any);
        else setShowResults(true);
      })
      .catch(setSaveError);
  };
  useKeys({
    "1": () => answer("fits"),
    "2": () => answer("partly"),
    "3": () => answer("not"),
    ArrowLeft: () => setCursor((c) => Math.max(0, c - 1)),
    ArrowRight: () => setCursor((c) => Math.min(items.length - 1, c + 1)),
  });

  if (error) return <ErrorBox error={error} />;
  if (!task) return <Loading what="the comparison" />;
  return (
    <>
      <div className="page-head">
        <h1>
          Blind comparison: “<span data-testid="compare-label">{task.label.text}</span>”
        </h1>
        <p className="muted small">
          Label by {task.label.annotator}, version {task.label.version}. Answers are kept per label version and annotator.
          {task.label.description ? ` Description: ${task.label.description}` : ""}
        </p>
      </div>
      {!task.sample ? (
        <CreateSample model={model} layer={layer} index={index} writer={writer} onCreated={load} />
      ) : showResults ? (
        <>
          <Results model={model} layer={layer} index={index} labelId={task.label.id} />
          {answered < items.length && (
            <p className="small">
              <button type="button" onClick={() => setShowResults(false)}>Back to the images</button> ({items.length - answered} unanswered)
            </p>
          )}
        </>
      ) : (
        <section className="panel compare-task" aria-label="blind task">
          <div className="panel-head">
            <span className="small">
              Image {cursor + 1} of {items.length} · answered <b data-testid="compare-answered">{answered}</b>
            </span>
            <span className="small muted">
              {task.sample.items} images drawn evenly across the unit's activation range ({task.sample.scanned} scanned); the activation is hidden.
            </span>
          </div>
          {item && (
            <div className="compare-item">
              <figure className="compare-crop">
                <img src={item.crop} alt="where the unit looked (receptive field)" data-testid="compare-crop" />
                <figcaption className="small muted">where the unit looked</figcaption>
              </figure>
              <figure className="compare-full">
                <div className="compare-full-img">
                  <img src={item.image} alt="the whole image" />
                  <BoxOutline box={item.box} size={item.size} />
                </div>
                <figcaption className="small muted">whole image</figcaption>
              </figure>
              <div className="compare-answers">
                <p>Does the outlined part fit “<b>{task.label.text}</b>”?</p>
                {ANSWERS.map((a) => (
                  <button key={a.value} type="button" className={`answer answer-${a.value} ${answers[String(item.id)] === a.value ? "active" : ""}`}
                    onClick={() => answer(a.value)} disabled={!writer} data-testid={`answer-${a.value}`}>
                    <kbd>{a.key}</kbd> {a.text}
                  </button>
                ))}
                {!writer && <p className="small muted">Sign in as an annotator to answer.</p>}
                {saveError !== null && <ErrorBox error={saveError} title="Answer not saved">{String((saveError as { status?: number }).status) === "409" && <button type="button" onClick={load}>Reload</button>}</ErrorBox>}
                <p className="small muted">Keys: 1 fits, 2 partly, 3 not; ←/→ previous / next image.</p>
                <p className="small">
                  <button type="button" onClick={() => window.confirm("Results show answers against activation: you are no longer blind for the rest. Show them?") && setShowResults(true)}>
                    Show results so far
                  </button>
                </p>
              </div>
            </div>
          )}
        </section>
      )}
    </>
  );
}

function BoxOutline({ box, size }: { box: number[]; size: number }) {
  // box is in model-input pixels (x1, y1 exclusive); the image is scaled by CSS, so place it in percent
  const [x0, y0, x1, y1] = box;
  const p = (v: number) => `${(100 * v) / size}%`;
  return <span className="box-outline" style={{ left: p(x0), top: p(y0), width: p(x1 - x0), height: p(y1 - y0) }} />;
}

function CreateSample({ model, layer, index, writer, onCreated }: { model: string; layer: string; index: number; writer: boolean; onCreated: () => void }) {
  const [perBin, setPerBin] = useState(8);
  const [bins, setBins] = useState(10);
  const [maxImages, setMaxImages] = useState(2000);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const create = () => {
    setBusy(true);
    setErr(null);
    evidenceCalls.createSample(model, layer, index, { per_bin: perBin, bins, max_images: maxImages })
      .then(onCreated)
      .catch(setErr)
      .finally(() => setBusy(false));
  };
  return (
    <section className="panel">
      <h2>No image sample for this unit yet</h2>
      <p className="small">
        The unit's activation (its per-image spatial max; before the ReLU where the layer ends in one, so silent images spread below zero)
        is measured on up to <input type="number" min={10} max={20000} value={maxImages} onChange={(e) => setMaxImages(Number(e.target.value))} style={{ width: 70 }} /> images
        of its dataset, the range is cut into <input type="number" min={2} max={50} value={bins} onChange={(e) => setBins(Number(e.target.value))} style={{ width: 50 }} /> equal bins,
        and <input type="number" min={1} max={50} value={perBin} onChange={(e) => setPerBin(Number(e.target.value))} style={{ width: 50 }} /> images are drawn from each bin.
      </p>
      <button type="button" onClick={create} disabled={busy || !writer} data-testid="create-sample">{busy ? "Scanning…" : "Create the sample"}</button>
      {!writer && <span className="small muted"> Sign in as an annotator to create it.</span>}
      {err !== null && <ErrorBox error={err} title="No sample created" />}
    </section>
  );
}

function Results({ model, layer, index, labelId }: { model: string; layer: string; index: number; labelId: number }) {
  const [res, setRes] = useState<CompareResults>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    evidenceCalls.results(model, layer, index, labelId).then(setRes).catch(setError);
  }, [model, layer, index, labelId]);
  const series = useMemo(() => {
    if (!res) return [];
    const x = res.bins.map((b) => `${b.lo.toFixed(2)}…${b.hi.toFixed(2)}`);
    return [
      { type: "bar" as const, x, y: res.bins.map((b) => b.share_fits), name: "fits", color: "#2e7d32" },
      { type: "bar" as const, x, y: res.bins.map((b) => b.share_partly), name: "partly", color: "#e0a030" },
      { type: "bar" as const, x, y: res.bins.map((b) => b.share_not), name: "not", color: "#9a9aa2" },
    ];
  }, [res]);
  const weights = useMemo(() => {
    if (!res) return [];
    const total = res.scan_bins.weights.reduce((a, b) => a + b, 0) || 1;
    const x = res.bins.map((b) => `${b.lo.toFixed(2)}…${b.hi.toFixed(2)}`);
    return [
      { type: "bar" as const, x, y: res.scan_bins.weights.map((w) => w / total), name: "share of expected activation", color: "#b3261e" },
      { type: "bar" as const, x, y: res.scan_bins.counts.map((c) => c / Math.max(1, res.sample.scanned)), name: "share of images", color: "#1a5fb4" },
    ];
  }, [res]);
  if (error) return <ErrorBox error={error} />;
  if (!res) return <Loading what="results" />;
  return (
    <section className="panel compare-results" aria-label="comparison results" data-testid="compare-results">
      <h2>Results</h2>
      <p className="headline" data-testid="compare-headline">
        {res.label_share === null ? (
          "No answers yet."
        ) : (
          <>
            The label accounts for <b>{pct(res.label_share)}</b> of the unit's expected activation
          </>
        )}
      </p>
      <p className="small muted">
        Activation-weighted shares: fits {pct(res.weighted.fits)}, partly {pct(res.weighted.partly)}, not {pct(res.weighted.not)} (the headline counts
        “partly” as half). Each bin is weighted by activation × frequency: the sum of max(0, activation) of the scanned images in it. {res.answers} answers;
        the answered bins hold {pct(res.coverage)} of the expected activation. Activation:{" "}
        {res.measure === "pre_relu" ? "spatial max before the final ReLU (negative = silent)" : "spatial max of the layer output"}, over {res.sample.scanned} scanned images.
      </p>
      <Plot series={series} xTitle="activation bin" yTitle="share of answers" yRange={[0, 1]} testid="compare-share-plot" height={240} />
      <Plot series={weights} xTitle="activation bin" yTitle="share" barmode="group" height={200} />
      {Object.keys(res.annotators).length > 1 && (
        <table className="small">
          <thead>
            <tr><th>annotator</th><th>answers</th><th>label share</th><th>coverage</th></tr>
          </thead>
          <tbody>
            {Object.entries(res.annotators).map(([name, r]) => (
              <tr key={name}><td>{name}</td><td>{r.answers}</td><td>{pct(r.label_share)}</td><td>{pct(r.coverage)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
