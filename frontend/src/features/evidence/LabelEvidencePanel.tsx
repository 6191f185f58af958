import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { useResource } from "../../shared/useResource";
import { useMe } from "../annotate/annotateApi";
import { ErrorBox } from "../../shared/ErrorBox";
import { comparePage, evidenceCalls, evidenceQueries, pct, type LabelEvidence } from "./evidenceApi";

const STATE_TEXT: Record<string, string> = {
  unchecked: "unchecked",
  weak: "weak evidence",
  supported: "supported",
  mixed: "mixed evidence",
};

/** One label's evidence as a compact line: state badge, claimed concepts with AUC, blind human share. */
export function EvidenceLine({ ev }: { ev: LabelEvidence }) {
  return (
    <span className="evidence-line" data-testid="evidence-line">
      <span className={`ev-badge ev-${ev.evidence}`} title={ev.reasons.join("; ") || undefined}>{STATE_TEXT[ev.evidence]}</span>
      {ev.claims.map((c) => (
        <span key={c.concept} className={`ev-claim ${c.auc === null || c.auc < 0.75 ? "ev-low" : ""}`}>
          {c.concept} <b>{c.auc === null ? (c.auc_below !== null ? `AUC < ${c.auc_below.toFixed(2)}` : "AUC n/a") : `AUC ${c.auc.toFixed(2)}`}</b>
        </span>
      ))}
      {ev.human_share !== null && (
        <span className={`ev-claim ${ev.human_share < 0.5 ? "ev-low" : ""}`} title={`${ev.human_answers} blind answers by ${ev.human_annotators} annotator(s); coverage ${pct(ev.human_coverage)} of the expected activation`}>
          blind share <b>{pct(ev.human_share)}</b> <span className="muted">n={ev.human_answers}</span>
        </span>
      )}
    </span>
  );
}

/** Beside the labels on the unit page: each label's evidence, its claimed concepts (editable by its annotator),
 * and the way into the blind comparison. */
export function LabelEvidencePanel({ model, layer, index, labelKey }: { model: string; layer: string; index: number; labelKey?: string | null }) {
  const { data, error, reload } = useResource(evidenceQueries.unitEvidence(model, layer, index), { fresh: true });
  const me = useMe().me?.user?.name ?? null;
  // the unit page refetches its consensus label after a save: fetch the evidence again with it
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => reload(), [labelKey]);
  if (error) return <ErrorBox error={error} title="Label evidence unavailable" />;
  if (!data) return null;
  return (
    <section className="panel label-evidence" aria-label="label evidence" data-testid="label-evidence">
      <h2>Label evidence</h2>
      {data.labels.length === 0 ? (
        <p className="small muted">No label yet. Once a unit is labelled, the label can claim concepts (scored by AUC) and be checked blind against images across the activation range.</p>
      ) : (
        <ul className="evidence-list">
          {data.labels.map((l) => (
            <li key={l.id}>
              <div>
                <b>{l.label}</b> <span className="muted small">— {l.annotator}, v{l.version}</span>
              </div>
              <EvidenceLine ev={l} />
              {l.reasons.length > 0 && <div className="small ev-reasons">{l.reasons.join("; ")}</div>}
              <div className="small">
                <Link to={comparePage(model, layer, index, l.id)} data-testid="compare-link">Blind comparison →</Link>
              </div>
              {me === l.annotator && (
                <ClaimsEditor labelId={l.id} claims={l.claims.map((c) => c.concept)} scored={data.scored_concepts} onSaved={reload} />
              )}
            </li>
          ))}
        </ul>
      )}
      <p className="small muted">{data.rules}.</p>
    </section>
  );
}

function ClaimsEditor({ labelId, claims, scored, onSaved }: { labelId: number; claims: string[]; scored: string[] | null; onSaved: () => void }) {
  const [text, setText] = useState(claims.join(", "));
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (scored === null)
    return <div className="small muted">This layer has no concept scores (its dataset has no attributes, classes or tags), so the label cannot claim concepts.</div>;
  const save = () => {
    setBusy(true);
    setErr(null);
    const concepts = text.split(",").map((s) => s.trim()).filter(Boolean);
    evidenceCalls.claims(labelId, { concepts })
      .then(onSaved)
      .catch(setErr)
      .finally(() => setBusy(false));
  };
  return (
    <div className="claims-editor small">
      <label>
        Claims{" "}
        <input list={`concepts-${labelId}`} value={text} onChange={(e) => setText(e.target.value)} placeholder="e.g. colour=red, orientation=45" size={28} />
      </label>
      <datalist id={`concepts-${labelId}`}>
        {scored.map((c) => (
          <option key={c} value={c} />
        ))}
      </datalist>{" "}
      <button type="button" onClick={save} disabled={busy}>Save claims</button>
      {err !== null && <ErrorBox error={err} title="Claims not saved" />}
    </div>
  );
}

/** Compact evidence of a unit's labels (the label queue): one line per label. */
export function UnitEvidenceLines({ model, layer, index, refreshKey }: { model: string; layer: string; index: number; refreshKey?: unknown }) {
  const { data, reload } = useResource(evidenceQueries.unitEvidence(model, layer, index), { fresh: true });
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => reload(), [refreshKey]);
  if (!data || !data.labels.length) return null;
  return (
    <div className="small" data-testid="queue-evidence">
      {data.labels.map((l) => (
        <div key={l.id}>
          <span className="muted">{l.annotator}: {l.label}</span> <EvidenceLine ev={l} />
        </div>
      ))}
    </div>
  );
}
