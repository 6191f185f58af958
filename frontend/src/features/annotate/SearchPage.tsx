import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { useKeys } from "../../shared/keys";
import { Loading } from "../../shared/Loading";
import { annotateQueries, type SearchQuery } from "./annotateApi";
import { ConsensusBadge, Tags } from "./bits";
import { StatusBadge } from "../../shared/StatusBadge";
import { UnitImage } from "../../shared/UnitThumb";
import { ConceptBadge, ConceptSearchFilters } from "../concepts";
import { EvidenceLine } from "../evidence/LabelEvidencePanel";
import type { LabelEvidence } from "../evidence/evidenceApi";
import { browseQueries } from "../browse/browseApi";
import { pagePaths } from "../../shared/paths";
import { useResource, useTitle } from "../../shared/useResource";
import { ModelSelect } from "../../shared/ModelSelect";

const FILTERS = ["model", "layer", "family", "labeled", "annotator", "status", "tag", "concept", "min_auc"] as const;

/** Search labels, descriptions and tags; filter by model, layer, family, labelled or not, annotator, status. */
export function SearchPage() {
  useTitle("Search");
  const [params, setParams] = useSearchParams();
  const [q, setQ] = useState(params.get("q") ?? "");
  const input = useRef<HTMLInputElement>(null);
  useKeys({ "/": () => input.current?.focus() });
  useEffect(() => setQ(params.get("q") ?? ""), [params]);
  const { data: models } = useResource(browseQueries.models());
  const model = params.get("model") ?? "";
  const { data: families } = useResource(model ? annotateQueries.families(model) : null, { fresh: true });
  const { data: annotators } = useResource(annotateQueries.annotators(), { fresh: true });
  const offset = Number(params.get("offset") ?? 0);
  const apiParams = new URLSearchParams();
  if (params.get("q")) apiParams.set("q", params.get("q")!);
  for (const f of FILTERS) if (params.get(f)) apiParams.set(f, params.get(f)!);
  apiParams.set("limit", "60");
  apiParams.set("offset", String(offset));
  const active = !!params.get("q") || FILTERS.some((f) => f !== "min_auc" && params.get(f));
  // the page's URL filters are the search's query parameters (the server validates them)
  const { data, error, loading } = useResource(active ? annotateQueries.search(Object.fromEntries(apiParams) as SearchQuery) : null, { fresh: true });
  const setParam = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    if (k === "model") {
      next.delete("layer");
      next.delete("family");
    }
    next.delete("offset");
    setParams(next);
  };
  const layers = models?.find((m) => m.slug === model)?.layers ?? [];
  const unlabelled = params.get("labeled") === "false";
  return (
    <div>
      <h1>Search labels</h1>
      <form
        className="search-bar"
        onSubmit={(e) => {
          e.preventDefault();
          setParam("q", q.trim());
        }}
      >
        <input
          ref={input}
          type="search"
          aria-label="search"
          name="q"
          placeholder={unlabelled ? "(lists unlabelled units)" : "words in labels, descriptions, tags   ( / )"}
          value={q}
          disabled={unlabelled}
          maxLength={200}
          onChange={(e) => setQ(e.target.value)}
        />
        <button type="submit">Search</button>
      </form>
      <div className="grid-tools">
        <ModelSelect models={models} value={model} onChange={(v) => setParam("model", v)} />
        <select aria-label="layer" value={params.get("layer") ?? ""} onChange={(e) => setParam("layer", e.target.value)} disabled={!model}>
          <option value="">all layers</option>
          {layers.map((l) => (
            <option key={l.name}>{l.name}</option>
          ))}
        </select>
        <select aria-label="family" value={params.get("family") ?? ""} onChange={(e) => setParam("family", e.target.value)} disabled={!model}>
          <option value="">any family</option>
          {families?.map((f) => (
            <option key={f.id} value={String(f.id)}>
              {f.name}
            </option>
          ))}
        </select>
        <select aria-label="labelled" value={params.get("labeled") ?? ""} onChange={(e) => setParam("labeled", e.target.value)}>
          <option value="">labelled</option>
          <option value="false">unlabelled</option>
        </select>
        <select aria-label="annotator" value={params.get("annotator") ?? ""} onChange={(e) => setParam("annotator", e.target.value)} disabled={unlabelled}>
          <option value="">any annotator</option>
          {annotators?.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
        <select aria-label="status" value={params.get("status") ?? ""} onChange={(e) => setParam("status", e.target.value)} disabled={unlabelled}>
          <option value="">any status</option>
          <option>draft</option>
          <option>confident</option>
          <option>disputed</option>
        </select>
        <ConceptSearchFilters params={params} setParam={setParam} />
      </div>
      {!active && <p className="muted">Type words to find, or pick filters (e.g. a layer and “unlabelled”).</p>}
      {loading && <Loading what="Searching" />}
      {error && <ErrorBox error={error} />}
      {data && data.total === 0 && <EmptyState title="Nothing found">Try fewer words or fewer filters.</EmptyState>}
      {data && data.total > 0 && (
        <>
          <p className="muted" data-testid="search-total">
            {data.total} unit{data.total === 1 ? "" : "s"}
          </p>
          <div className="results">
            {data.results.map((r) => (
              <Link key={`${r.model}/${r.layer}/${r.index}`} to={pagePaths.unit(r.model, r.layer, r.index)} className="result" data-testid="search-result">
                <UnitImage image={r.image} size={72} alt={`${r.layer} ${r.index}`} />
                <div className="result-body">
                  <div className="mono small">
                    {r.model} · {r.layer}:{r.index} <ConceptBadge concept={r.concept} />
                  </div>
                  {r.consensus ? (
                    <div>
                      <b>{r.consensus.label}</b> <ConsensusBadge state={r.consensus.state} />
                    </div>
                  ) : (
                    <div className="muted">unlabelled</div>
                  )}
                  {r.labels.slice(0, 3).map((l) => (
                    <div key={l.id} className="small">
                      <span className="muted">{l.annotator}:</span> {l.label} <StatusBadge kind="label" status={l.status} />
                      {l.description && <span className="muted"> — {l.description.slice(0, 120)}</span>} <Tags tags={l.tags} />
                      {(l as { evidence?: LabelEvidence }).evidence && <> <EvidenceLine ev={(l as { evidence?: LabelEvidence }).evidence!} /></>}
                    </div>
                  ))}
                  {r.families.map((f) => (
                    <span key={f.id} className="family-chip small" style={{ borderColor: f.color }}>
                      <span className="swatch" style={{ background: f.color }} />
                      {f.name}
                    </span>
                  ))}
                </div>
              </Link>
            ))}
          </div>
          <div className="row">
            <button type="button" disabled={offset === 0} onClick={() => setParam("offset", String(Math.max(0, offset - 60)))}>
              Previous
            </button>
            <button type="button" disabled={offset + 60 >= data.total} onClick={() => setParam("offset", String(offset + 60))}>
              Next
            </button>
          </div>
        </>
      )}
    </div>
  );
}
