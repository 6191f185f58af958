import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { useKeys } from "../../shared/keys";
import { Loading } from "../../shared/Loading";
import { annotateCalls, annotateQueries, canWrite, useMe, type LabelStatus } from "./annotateApi";
import { parseTags } from "./UnitAnnotationPanel";
import { UnitEvidenceLines } from "../evidence/LabelEvidencePanel";
import { browseQueries } from "../browse/browseApi";
import { afterWrite, errorText } from "../../shared/api/client";
import { pagePaths } from "../../shared/paths";
import { useResource, useTitle } from "../../shared/useResource";

/** Pick a model and layer to label. */
export function QueueIndexPage() {
  useTitle("Label queue");
  const { data: models, error } = useResource(browseQueries.models());
  if (error) return <ErrorBox error={error} />;
  if (!models) return <Loading what="Loading models" />;
  return (
    <div>
      <h1>Label queue</h1>
      <p className="muted">Pick a layer: its unlabelled units come one after another, with keyboard shortcuts.</p>
      {models.map((m) => (
        <div key={m.slug} className="model-card">
          <h2>{m.name}</h2>
          <div className="queue-layers">
            {m.layers
              .filter((l) => l.status !== "not_computed")
              .map((l) => (
                <Link key={l.name} to={`/queue/${encodeURIComponent(m.slug)}/${encodeURIComponent(l.name)}`} className="mono">
                  {l.name} <span className="muted">({l.channels})</span>
                </Link>
              ))}
          </div>
        </div>
      ))}
    </div>
  );
}

/** One unit at a time: type a label, Enter saves and moves on; n / → skips; l focuses the label field. */
export function QueuePage() {
  const { model = "", layer = "" } = useParams();
  useTitle(`Label ${layer}`);
  const { me } = useMe();
  const navigate = useNavigate();
  const [mode, setMode] = useState<"any" | "mine">("any");
  const [after, setAfter] = useState(-1);
  const [done, setDone] = useState(0);
  const { data: queue, error } = useResource(annotateQueries.queue(model, layer, mode, after), { fresh: true });
  const current = queue?.units[0];
  const { data: unit } = useResource(current !== undefined ? browseQueries.unit(model, layer, current) : null);
  const { data: labels } = useResource(current !== undefined ? annotateQueries.labels(model, layer, current) : null, { fresh: true });
  const [text, setText] = useState("");
  const [tags, setTags] = useState("");
  const [status, setStatus] = useState<LabelStatus>("draft");
  const [confidence, setConfidence] = useState(0.6);
  const [err, setErr] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    setText("");
    setTags("");
    setErr(null);
    input.current?.focus();
  }, [current]);
  const skip = () => current !== undefined && setAfter(current);
  const save = async () => {
    if (current === undefined || !text.trim()) return;
    try {
      await annotateCalls.saveLabel(model, layer, current, {
        label: text.trim(),
        tags: parseTags(tags),
        status,
        confidence,
        version: labels?.mine?.version ?? null,
      });
      afterWrite();
      setDone((d) => d + 1);
      setAfter(current);
    } catch (e) {
      setErr(errorText(e));
    }
  };
  useKeys({
    n: skip,
    s: skip,
    ArrowRight: skip,
    l: () => input.current?.focus(),
    Enter: () => input.current?.focus(),
    o: () => current !== undefined && navigate(pagePaths.unit(model, layer, current)),
    Escape: () => navigate(`/queue`),
  });
  if (error) return <ErrorBox error={error} />;
  if (!canWrite(me) && me) return <EmptyState title="Labelling needs the annotator role">{me.user ? null : <Link to="/login">Sign in</Link>}</EmptyState>;
  const fv = unit?.feature_vis.filter((f) => f.objective === "channel" || f.objective === "neuron") ?? [];
  return (
    <div className="queue">
      <div className="page-head">
        <h1>
          Label <span className="mono">{layer}</span> <span className="slug">{model}</span>
        </h1>
        <div className="row small">
          <select aria-label="queue mode" value={mode} onChange={(e) => { setMode(e.target.value as "any" | "mine"); setAfter(-1); }}>
            <option value="any">units nobody labelled</option>
            <option value="mine">units I have not labelled</option>
          </select>
          <span className="muted" data-testid="queue-remaining">
            {queue ? `${queue.remaining} left` : ""} · {done} labelled this session
          </span>
        </div>
      </div>
      <p className="muted small keys-help">
        <kbd>Enter</kbd> save &amp; next · <kbd>n</kbd>/<kbd>→</kbd> skip · <kbd>l</kbd> focus label · <kbd>o</kbd> open unit page · <kbd>Esc</kbd> leave the field, then again to
        leave the queue
      </p>
      {queue && current === undefined && (
        <EmptyState title={after >= 0 ? "End of the layer" : "Every unit of this layer is labelled"}>
          {after >= 0 && (
            <p>
              <button type="button" onClick={() => setAfter(-1)}>
                Start over (skipped units come back)
              </button>
            </p>
          )}
        </EmptyState>
      )}
      {current !== undefined && (
        <div className="queue-card">
          <div className="queue-images">
            {fv.map((f) => (
              <figure key={`${f.objective}${f.variant}`} className="fv">
                <img src={f.image} width={192} height={192} alt={`${f.objective} render`} />
                <figcaption className="small muted">{f.objective}</figcaption>
              </figure>
            ))}
            {!fv.length && unit && <span className="placeholder" style={{ width: 192, height: 192 }}>no render</span>}
            <div className="example-grid">
              {unit?.top.slice(0, 8).map((ex) => (
                <img key={ex.rank} src={ex.crop} width={88} height={88} alt={`top example ${ex.rank}`} />
              ))}
            </div>
          </div>
          <div className="queue-form">
            <div className="mono">
              <Link to={pagePaths.unit(model, layer, current)}>
                {layer}:{current}
              </Link>
            </div>
            {labels && labels.labels.length > 0 && (
              <div className="small muted">Others: {labels.labels.map((l) => `${l.annotator}: ${l.label}`).join(" · ")}</div>
            )}
            <UnitEvidenceLines model={model} layer={layer} index={current} refreshKey={labels} />
            <input
              ref={input}
              aria-label="queue label"
              placeholder="label, then Enter"
              maxLength={200}
              value={text}
              onChange={(e) => setText(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  void save();
                } else if (e.key === "Escape") (e.target as HTMLInputElement).blur();
              }}
            />
            <input aria-label="queue tags" placeholder="tags, comma separated" value={tags} onChange={(e) => setTags(e.target.value)} onKeyDown={(e) => e.key === "Enter" && (e.preventDefault(), void save())} />
            <div className="row small">
              <select aria-label="queue status" value={status} onChange={(e) => setStatus(e.target.value as LabelStatus)}>
                <option>draft</option>
                <option>confident</option>
                <option>disputed</option>
              </select>
              <label>
                confidence {confidence.toFixed(2)}{" "}
                <input type="range" min={0} max={1} step={0.05} value={confidence} onChange={(e) => setConfidence(Number(e.target.value))} />
              </label>
              <button type="button" onClick={save} disabled={!text.trim()}>
                Save &amp; next
              </button>
              <button type="button" onClick={skip}>
                Skip
              </button>
            </div>
            {err && <div className="error-box small">{err}</div>}
          </div>
        </div>
      )}
    </div>
  );
}
