import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import { afterWrite, errorText } from "../../shared/api/client";
import { formatTime } from "../../shared/format";
import { pagePaths } from "../../shared/paths";
import { useResource, useTitle } from "../../shared/useResource";
import { browseQueries } from "../browse/browseApi";
import { annotateCalls, annotateQueries, canWrite, useMe, type Family } from "./annotateApi";

/** Families of a model (Early Vision style: name, colour, comment, members across layers). */
export function FamiliesPage() {
  useTitle("Families");
  const { me } = useMe();
  const [params, setParams] = useSearchParams();
  const { data: models } = useResource(browseQueries.models());
  const model = params.get("model") || models?.[0]?.slug || "";
  const { data, error, loading, reload } = useResource(model ? annotateQueries.families(model) : null, { fresh: true });
  const writable = canWrite(me);
  return (
    <div>
      <h1>Families</h1>
      <div className="grid-tools">
        <select aria-label="model" value={model} onChange={(e) => setParams({ model: e.target.value })}>
          {models?.map((m) => (
            <option key={m.slug} value={m.slug}>
              {m.name}
            </option>
          ))}
        </select>
        <span className="muted small">Group units into named families; the layer grid colours cells by family.</span>
      </div>
      {writable && model && <NewFamily model={model} onDone={reload} />}
      {loading && <Loading what="Loading families" />}
      {error && <ErrorBox error={error} />}
      {data && !data.length && <EmptyState title="No families yet">Create one above, or from a unit page (“add to family”).</EmptyState>}
      {data?.map((f) => <FamilyCard key={`${f.id}-${f.version}`} f={f} writable={writable} onChange={reload} />)}
    </div>
  );
}

function NewFamily({ model, onDone }: { model: string; onDone: () => void }) {
  const [f, setF] = useState({ name: "", comment: "" });
  const [err, setErr] = useState<string | null>(null);
  return (
    <form
      className="row panel"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await annotateCalls.createFamily({ model, ...f });
          setF({ name: "", comment: "" });
          afterWrite();
          onDone();
        } catch (e2) {
          setErr(errorText(e2));
        }
      }}
    >
      <input aria-label="family name" placeholder="name, e.g. Gabor filters" maxLength={200} value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />
      <input aria-label="family comment" className="grow" placeholder="comment" maxLength={5000} value={f.comment} onChange={(e) => setF({ ...f, comment: e.target.value })} />
      <button type="submit" disabled={!f.name.trim()}>
        New family
      </button>
      {err && <div className="error-box small">{err}</div>}
    </form>
  );
}

function FamilyCard({ f, writable, onChange }: { f: Family; writable: boolean; onChange: () => void }) {
  const [edit, setEdit] = useState({ name: f.name, comment: f.comment, color: f.color || "#888888" });
  const [units, setUnits] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const dirty = edit.name !== f.name || edit.comment !== f.comment || edit.color !== (f.color || "#888888");
  const run = async (p: Promise<unknown>) => {
    setErr(null);
    try {
      await p;
      afterWrite();
      onChange();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  const parsed = units
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((t) => /^(.+):(\d+)$/.exec(t))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ layer: m[1], index: Number(m[2]) }));
  const byLayer = new Map<string, number[]>();
  for (const m of f.members ?? []) byLayer.set(m.layer, [...(byLayer.get(m.layer) ?? []), m.index]);
  return (
    <section className="panel family-card" id={`f${f.id}`}>
      <div className="panel-head">
        <h2>
          <span className="swatch big" style={{ background: f.color }} /> {f.name} <span className="muted small">{f.size} units</span>
        </h2>
        <span className="muted small">
          v{f.version} · {f.updated_by ?? f.created_by}, {formatTime(f.updated_at)}
        </span>
      </div>
      {f.comment && <p>{f.comment}</p>}
      {[...byLayer.entries()].map(([layer, idx]) => (
        <div key={layer} className="small">
          <span className="mono">{layer}</span>:{" "}
          {idx.map((i) => (
            <Link key={i} to={pagePaths.unit(f.model, layer, i)} className="mono member">
              {i}
            </Link>
          ))}
        </div>
      ))}
      {writable && (
        <details>
          <summary className="small">edit</summary>
          <div className="row">
            <input aria-label="name" value={edit.name} maxLength={200} onChange={(e) => setEdit({ ...edit, name: e.target.value })} />
            <input aria-label="colour" type="color" value={edit.color} onChange={(e) => setEdit({ ...edit, color: e.target.value })} />
            <input aria-label="comment" className="grow" value={edit.comment} maxLength={5000} onChange={(e) => setEdit({ ...edit, comment: e.target.value })} />
            <button type="button" disabled={!dirty} onClick={() => run(annotateCalls.patchFamily(f.id, { version: f.version, ...edit }))}>
              Save
            </button>
          </div>
          <div className="row">
            <input aria-label="units" className="grow mono" placeholder="layer:index, layer:index …" value={units} onChange={(e) => setUnits(e.target.value)} />
            <button type="button" disabled={!parsed.length} onClick={() => run(annotateCalls.familyMembers(f.id, { version: f.version, add: parsed }))}>
              Add units
            </button>
            <button type="button" disabled={!parsed.length} onClick={() => run(annotateCalls.familyMembers(f.id, { version: f.version, remove: parsed }))}>
              Remove units
            </button>
            <button type="button" className="small" onClick={() => confirm(`Delete family ${f.name}?`) && run(annotateCalls.deleteFamily(f.id, f.version))}>
              Delete family
            </button>
          </div>
        </details>
      )}
      {err && <div className="error-box small">{err}</div>}
    </section>
  );
}
