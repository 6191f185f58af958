import { useEffect, useState } from "react";

/** Search-page filters: units selective for a concept ("orientation=45", or a kind: "orientation") with AUC >= x. */
export function ConceptSearchFilters({ params, setParam }: { params: URLSearchParams; setParam: (k: string, v: string) => void }) {
  const [concept, setConcept] = useState(params.get("concept") ?? "");
  useEffect(() => setConcept(params.get("concept") ?? ""), [params]);
  return (
    <form
      className="concept-search"
      onSubmit={(e) => {
        e.preventDefault();
        setParam("concept", concept.trim());
      }}
    >
      <input
        type="search"
        aria-label="concept"
        placeholder="concept, e.g. orientation=45, colour=red, class=dog"
        value={concept}
        maxLength={200}
        onChange={(e) => setConcept(e.target.value)}
        onBlur={() => concept.trim() !== (params.get("concept") ?? "") && setParam("concept", concept.trim())}
      />
      <label className="small">
        AUC ≥{" "}
        <select aria-label="minimum AUC" value={params.get("min_auc") ?? "0.9"} onChange={(e) => setParam("min_auc", e.target.value)}>
          {["0.6", "0.7", "0.8", "0.9", "0.95", "0.99"].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </label>
    </form>
  );
}

/** The matching concept score on a search result. */
export function ConceptBadge({ concept }: { concept?: { display: string; auc: number } | null }) {
  if (!concept) return null;
  return (
    <span className="concept-badge small" title="AUC of the unit's per-image maximum, with vs without the concept">
      {concept.display} · AUC {concept.auc.toFixed(3)}
    </span>
  );
}
