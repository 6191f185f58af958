import { useState } from "react";
import { Link } from "react-router-dom";
import { afterWrite, errorText } from "../../shared/api/client";
import { useResource } from "../../shared/useResource";
import { annotateCalls, annotateQueries, canWrite, useMe } from "../annotate/annotateApi";
import { conceptColour, type UnitConcepts } from "./conceptApi";

const SHOWN = 8;

/** The unit page's concept panel: the unit's best concepts by AUC, and a suggested label adoptable in
 * one click (saved as your label; its history records an accepted suggestion). */
export function ConceptPanel({
  model,
  layer,
  index,
  data,
  onAdopted,
}: {
  model: string;
  layer: string;
  index: number;
  data: UnitConcepts;
  onAdopted?: () => void;
}) {
  const { me } = useMe();
  const writable = canWrite(me);
  const { data: labels, reload } = useResource(writable ? annotateQueries.labels(model, layer, index) : null, { fresh: true });
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const status = data.concept_status;
  const concepts = data.concepts;
  const sug = data.suggested_label;
  const mine = labels?.mine && !labels.mine.deleted ? labels.mine : null;

  const adopt = async () => {
    if (!sug) return;
    if (mine && mine.label && !window.confirm(`Replace your label “${mine.label}” with “${sug.label}”?`)) return;
    setBusy(true);
    setError(null);
    try {
      await annotateCalls.adoptSuggestion(model, layer, index, { version: labels?.mine ? labels.mine.version : null });
      afterWrite();
      setMessage(`Saved “${sug.label}” as your label (recorded as an accepted suggestion).`);
      reload();
      onAdopted?.();
    } catch (e) {
      reload(); // a 409 means your label changed elsewhere: the next click uses its new version
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel concept-panel" aria-label="concept selectivity">
      <h2>Concepts</h2>
      {!status || status.status !== "scored" || !concepts ? (
        <p className="muted small" data-testid="concept-status">
          {status?.status === "none" ? "No concept scores: " : "Not scored yet: "}
          {status?.reason ?? "compute this layer's dataset examples to score its units against the dataset's concepts."}
        </p>
      ) : (
        <>
          <p className="muted small">
            AUC of the unit's per-image maximum, images with the concept vs without ({status.images} images,{" "}
            {status.source}). 0.5 = no preference.
          </p>
          <table className="concept-table" data-testid="concept-table">
            <thead>
              <tr>
                <th>concept</th>
                <th title="area under the ROC curve; ± the most that histogram binning can move it">AUC</th>
                <th title="mean per-image max with the concept minus without">Δ mean</th>
              </tr>
            </thead>
            <tbody>
              {concepts.slice(0, SHOWN).map((c) => (
                <tr key={c.concept} className={c.auc >= 0.9 ? "selective" : ""}>
                  <td>
                    <span className="swatch" style={{ background: conceptColour(c.concept) }} />
                    <Link to={`/search?concept=${encodeURIComponent(c.concept)}&min_auc=0.9&model=${encodeURIComponent(model)}`} title={`${c.concept} · ${c.n_with} images · units selective for it`}>
                      {c.display}
                    </Link>
                  </td>
                  <td>
                    <span className="auc-bar" style={{ width: `${Math.max(0, (c.auc - 0.5) * 2) * 32}px` }} />
                    {c.auc.toFixed(3)}
                    {c.auc_err != null && c.auc_err >= 0.0005 && <span className="muted err"> ±{c.auc_err.toFixed(3)}</span>}
                  </td>
                  <td className={c.diff >= 0 ? "pos" : "neg"}>{c.diff >= 0 ? "+" : ""}{c.diff.toPrecision(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {sug ? (
            <div className="suggestion" data-testid="suggested-label">
              <div>
                Suggested label: <b>{sug.label}</b> <span className="muted small">(AUC {sug.auc.toFixed(2)})</span>
              </div>
              {writable ? (
                <button type="button" className="primary small" disabled={busy || !labels} onClick={adopt} title={labels ? undefined : "loading your label…"}>
                  {mine?.label ? "Replace my label with this" : "Adopt as my label"}
                </button>
              ) : (
                <span className="muted small"> sign in as an annotator to adopt it</span>
              )}
            </div>
          ) : (
            <p className="muted small" data-testid="no-suggestion">
              No suggested label: no concept reaches AUC 0.9 for this unit.
            </p>
          )}
          {message && <p className="small ok">{message}</p>}
          {error && <p className="small error-text">{error}</p>}
        </>
      )}
    </section>
  );
}
