import { useEffect, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { ApiError } from "../../shared/api/client";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import {
  annotateCalls,
  annotateQueries,
  canWrite,
  circuitTestQueries,
  exportPaths,
  useMe,
  type Circuit,
  type CircuitStatus,
} from "./annotateApi";
import { errorText } from "../../shared/api/client";
import { formatTime } from "../../shared/format";
import { pagePaths } from "../../shared/paths";
import { StatusBadge } from "../../shared/StatusBadge";
import { UnitImage } from "../../shared/UnitThumb";
import { CircuitGraph, type EdgeStrength, type LayoutKind } from "./CircuitGraph";
import { CircuitSuggestions } from "./CircuitSuggestions";
import { CircuitTestPanel, EdgeStrengthSwitch } from "./CircuitTestPanel";
import { useEditQueue } from "./editQueue";
import { browseQueries, type ModelSummary } from "../browse/browseApi";
import { useResource, useTitle } from "../../shared/useResource";
import { ModelSelect } from "../../shared/ModelSelect";

/** All circuit hypotheses, filterable; create a new one. */
export function CircuitsPage() {
  useTitle("Circuits");
  const { me } = useMe();
  const [params, setParams] = useSearchParams();
  const model = params.get("model") ?? "";
  const status = params.get("status") ?? "";
  const filters = { ...(model ? { model } : {}), ...(status ? { status: status as CircuitStatus } : {}) };
  const { data, error, loading } = useResource(annotateQueries.circuits(filters), { fresh: true });
  const { data: models } = useResource(browseQueries.models());
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(params);
    if (v) n.set(k, v);
    else n.delete(k);
    setParams(n);
  };
  return (
    <div>
      <h1>Circuit hypotheses</h1>
      <div className="grid-tools">
        <ModelSelect models={models} value={model} onChange={(v) => set("model", v)} />
        <select aria-label="status" value={status} onChange={(e) => set("status", e.target.value)}>
          <option value="">any status</option>
          <option>proposed</option>
          <option>supported</option>
          <option>refuted</option>
        </select>
      </div>
      {canWrite(me) && models && <NewCircuit models={models} />}
      {loading && <Loading what="Loading circuits" />}
      {error && <ErrorBox error={error} />}
      {data && !data.length && (
        <EmptyState title="No circuits yet">
          <p>Open a unit and press “Start circuit here”, or create one above.</p>
        </EmptyState>
      )}
      {data && data.length > 0 && (
        <div className="table-scroll">
        <table className="layers circuits-table">
          <thead>
            <tr>
              <th>name</th>
              <th>model</th>
              <th>status</th>
              <th>claim</th>
              <th className="num">units</th>
              <th className="num">edges</th>
              <th>author</th>
              <th>updated</th>
            </tr>
          </thead>
          <tbody>
            {data.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link to={`/circuits/${c.id}`}>{c.name}</Link>
                </td>
                <td className="mono">{c.model}</td>
                <td>
                  <StatusBadge kind="circuit" status={c.status} />
                </td>
                <td className="claim-cell">{c.claim}</td>
                <td className="num">{c.n_nodes}</td>
                <td className="num">{c.n_edges}</td>
                <td>{c.author}</td>
                <td>{formatTime(c.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </div>
  );
}

function NewCircuit({ models }: { models: ModelSummary[] }) {
  const navigate = useNavigate();
  const [form, setForm] = useState({ model: models[0]?.slug ?? "", name: "", claim: "" });
  const [err, setErr] = useState<string | null>(null);
  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    try {
      const c = await annotateCalls.createCircuit(form);
      navigate(`/circuits/${c.id}`);
    } catch (e2) {
      setErr(errorText(e2));
    }
  };
  return (
    <form className="row panel" onSubmit={create}>
      <select aria-label="new circuit model" value={form.model} onChange={(e) => setForm({ ...form, model: e.target.value })}>
        {models.map((m) => (
          <option key={m.slug} value={m.slug}>
            {m.name}
          </option>
        ))}
      </select>
      <input aria-label="new circuit name" placeholder="name" maxLength={200} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
      <input aria-label="new circuit claim" placeholder="claim: what it computes" className="grow" maxLength={5000} value={form.claim} onChange={(e) => setForm({ ...form, claim: e.target.value })} />
      <button type="submit" disabled={!form.name.trim() || !form.model}>
        New circuit
      </button>
      {err && <div className="error-box small">{err}</div>}
    </form>
  );
}

/** One circuit: graph, claim/status/evidence, units, suggestions, supernodes, exports, history. */
export function CircuitPage() {
  const { id = "" } = useParams();
  const cid = Number(id);
  const { me } = useMe();
  const navigate = useNavigate();
  const { data, error, loading, set, reload } = useResource(annotateQueries.circuit(cid), { fresh: true });
  useTitle(data ? data.name : "Circuit");
  const [selected, setSelected] = useState<string[]>([]);
  const [layout, setLayout] = useState<LayoutKind>("layers");
  const [err, setErr] = useState<string | null>(null);
  const [conflict, setConflict] = useState<string | null>(null);
  const [histTick, setHistTick] = useState(0);
  const [strength, setStrength] = useState<EdgeStrength>("weight");
  const [attributions, setAttributions] = useState<Record<string, number | null> | undefined>(undefined);
  const writable = canWrite(me);
  const edits = useEditQueue(data);
  if (loading && !data) return <Loading what="Loading circuit" />;
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const c = data;

  /** Every change states the version it is based on; our own edits queue on the newest version (quick clicks
   * never conflict with each other); a 409 shows who else changed what, nothing is lost. */
  const mutate = async (call: (version: number) => Promise<Circuit>) => {
    setErr(null);
    try {
      const next = await edits.run(call);
      setConflict(null);
      set(next);
      setHistTick((t) => t + 1);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) setConflict(e.message);
      else setErr(errorText(e));
      return false;
    }
  };
  const addUnits = (units: { layer: string; index: number }[]) => mutate((version) => annotateCalls.addNodes(cid, { version, units }));

  return (
    <div className="circuit-page">
      <div className="crumbs">
        <Link to="/circuits">Circuits</Link> / <span className="mono">{c.model}</span>
      </div>
      <MetaEditor key={c.version} circuit={c} writable={writable} onSave={(f) => mutate((version) => annotateCalls.patchCircuit(cid, { version, ...f }))} />
      {conflict && (
        <div className="conflict" role="alert">
          <strong>This circuit changed since you loaded it; your change was not applied.</strong>
          <p className="small">{conflict}</p>
          <button type="button" onClick={() => { setConflict(null); reload(); }}>
            Load the current version
          </button>
        </div>
      )}
      {err && <div className="error-box">{err}</div>}
      {c.problems.length > 0 && (
        <div className="notice" role="alert">
          {c.problems.map((p) => (
            <div key={p}>{p}</div>
          ))}
        </div>
      )}
      <div className="circuit-layout">
        <div>
          <div className="row graph-tools">
            <span className="seg">
              <button type="button" className={layout === "layers" ? "active" : ""} onClick={() => setLayout("layers")}>
                by layer
              </button>
              <button type="button" className={layout === "dagre" ? "active" : ""} onClick={() => setLayout("dagre")}>
                dagre
              </button>
            </span>
            {writable && selected.length > 0 && (
              <SelectionTools
                selected={selected}
                circuit={c}
                onGroup={(name) => mutate((version) => annotateCalls.patchCircuit(cid, { version, supernodes: [...c.supernodes, { name, nodes: selected }] }))}
                onPin={async (pinned) => {
                  for (const k of selected) if (!(await mutate((version) => annotateCalls.patchNode(cid, k, { version, pinned })))) break;
                }}
                onRemove={() => mutate((version) => annotateCalls.removeNodes(cid, { version, nodes: selected })).then(() => setSelected([]))}
              />
            )}
            {selected.length === 0 && <span className="muted small">{c.nodes.length} units · {c.edges.length} edges</span>}
            <EdgeStrengthSwitch value={attributions ? strength : "weight"} onChange={setStrength} disabled={!attributions} />
            {edits.pending > 0 && <span className="muted small" data-testid="saving">saving {edits.pending} change{edits.pending > 1 ? "s" : ""}…</span>}
          </div>
          {c.nodes.length ? (
            <CircuitGraph
              circuit={c}
              layout={layout}
              strength={attributions ? strength : "weight"}
              attributions={attributions}
              onSelect={setSelected}
              onOpen={(k) => {
                const n = c.nodes.find((x) => x.id === k);
                if (n) navigate(pagePaths.unit(c.model, n.layer, n.index));
              }}
            />
          ) : (
            <EmptyState title="No units yet">Add units below or from a unit page.</EmptyState>
          )}
          <CircuitTestPanel
            circuit={c}
            writable={writable}
            onResult={(doc, stale) => {
              setAttributions(doc && !stale ? Object.fromEntries(doc.edges.map((e) => [`${e.source}->${e.target}`, e.attribution])) : undefined);
              setHistTick((t) => t + 1); // a new stored test shows in the history
            }}
            onSetStatus={(status) => mutate((version) => annotateCalls.patchCircuit(cid, { version, status: status as CircuitStatus }))}
          />
          <Supernodes circuit={c} writable={writable} onChange={(sn) => mutate((version) => annotateCalls.patchCircuit(cid, { version, supernodes: sn }))} />
          <NodesTable circuit={c} />
        </div>
        <aside>
          {writable && <AddUnit onAdd={(layer, index) => addUnits([{ layer, index }])} />}
          {c.nodes.length > 0 && <CircuitSuggestions circuit={c} writable={writable} onAdd={addUnits} />}
          <ExportPanel circuit={c} />
          {writable && (
            <div className="panel">
              <button type="button" className="small" onClick={() => mutate((version) => annotateCalls.refreshEdges(cid, { version, kinds: ["direct", "expanded"] }))}>
                Refresh edges from weights
              </button>{" "}
              {(me?.user?.name === c.author || me?.user?.role === "admin") && (
                <button
                  type="button"
                  className="small"
                  onClick={async () => {
                    if (!confirm(`Delete circuit “${c.name}”? (It stays in the history.)`)) return;
                    try {
                      await annotateCalls.deleteCircuit(cid, c.version);
                      navigate("/circuits");
                    } catch (e) {
                      setErr(errorText(e));
                    }
                  }}
                >
                  Delete circuit
                </button>
              )}
            </div>
          )}
          <HistoryPanel cid={cid} tick={histTick} />
        </aside>
      </div>
    </div>
  );
}

function MetaEditor({ circuit, writable, onSave }: { circuit: Circuit; writable: boolean; onSave: (f: Record<string, unknown>) => Promise<boolean> }) {
  const [f, setF] = useState({ name: circuit.name, claim: circuit.claim, status: circuit.status, evidence: circuit.evidence });
  const dirty = f.name !== circuit.name || f.claim !== circuit.claim || f.status !== circuit.status || f.evidence !== circuit.evidence;
  if (!writable)
    return (
      <div className="circuit-meta">
        <h1>
          {circuit.name} <StatusBadge kind="circuit" status={circuit.status} />
        </h1>
        <p className="claim">{circuit.claim}</p>
        {circuit.evidence && <p className="evidence">{circuit.evidence}</p>}
        <Byline c={circuit} />
      </div>
    );
  return (
    <form
      className="circuit-meta"
      onSubmit={(e) => {
        e.preventDefault();
        const changed = Object.fromEntries(Object.entries(f).filter(([k, v]) => v !== circuit[k as keyof typeof f]));
        void onSave(changed);
      }}
    >
      <div className="row">
        <input className="title-input" aria-label="circuit name" maxLength={200} value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />
        <select aria-label="circuit status" value={f.status} onChange={(e) => setF({ ...f, status: e.target.value as CircuitStatus })}>
          <option>proposed</option>
          <option>supported</option>
          <option>refuted</option>
        </select>
        <button type="submit" disabled={!dirty || !f.name.trim()}>
          Save
        </button>
      </div>
      <textarea aria-label="claim" placeholder="Claim: what does this circuit compute?" rows={2} maxLength={5000} value={f.claim} onChange={(e) => setF({ ...f, claim: e.target.value })} />
      <textarea aria-label="evidence" placeholder="Evidence notes: ablations, stimuli, examples" rows={2} maxLength={20000} value={f.evidence} onChange={(e) => setF({ ...f, evidence: e.target.value })} />
      <Byline c={circuit} />
    </form>
  );
}

function Byline({ c }: { c: Circuit }) {
  return (
    <div className="muted small">
      by {c.author} · created {formatTime(c.created_at)} · v{c.version}, updated {formatTime(c.updated_at)}
      {c.updated_by ? ` by ${c.updated_by}` : ""}
    </div>
  );
}

function SelectionTools({ selected, circuit, onGroup, onPin, onRemove }: { selected: string[]; circuit: Circuit; onGroup: (name: string) => void; onPin: (p: boolean) => void; onRemove: () => void }) {
  const [name, setName] = useState("");
  const allPinned = selected.every((k) => circuit.nodes.find((n) => n.id === k)?.pinned);
  return (
    <span className="row small selection-tools">
      <b>{selected.length} selected</b>
      <input aria-label="supernode name" placeholder="group name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
      <button type="button" disabled={!name.trim()} onClick={() => (onGroup(name.trim()), setName(""))}>
        Group as supernode
      </button>
      <button type="button" onClick={() => onPin(!allPinned)}>
        {allPinned ? "Unpin" : "Pin"}
      </button>
      <button type="button" onClick={onRemove}>
        Remove
      </button>
    </span>
  );
}

function Supernodes({ circuit, writable, onChange }: { circuit: Circuit; writable: boolean; onChange: (s: Circuit["supernodes"]) => void }) {
  if (!circuit.supernodes.length) return null;
  return (
    <div className="panel">
      <h3>Supernodes</h3>
      <ul className="plain">
        {circuit.supernodes.map((s, i) => (
          <li key={`${s.name}${i}`}>
            <b>{s.name}</b>: <span className="mono small">{s.nodes.join(", ")}</span>{" "}
            {writable && (
              <button type="button" className="small" onClick={() => onChange(circuit.supernodes.filter((_, j) => j !== i))}>
                ungroup
              </button>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

function NodesTable({ circuit }: { circuit: Circuit }) {
  const weights = (k: string) => circuit.edges.filter((e) => e.target === k);
  return (
    <div className="panel">
      <h3>Units</h3>
      <table className="layers nodes-table" data-testid="circuit-nodes">
        <tbody>
          {[...circuit.nodes]
            .sort((a, b) => (a.layer_position ?? 0) - (b.layer_position ?? 0) || a.index - b.index)
            .map((n) => (
              <tr key={n.id} data-node={n.id}>
                <td>
                  <UnitImage image={n.image} size={40} alt={n.id} />
                </td>
                <td className="mono">
                  {n.missing ? <span className="neg">{n.id} (missing)</span> : <Link to={pagePaths.unit(circuit.model, n.layer, n.index)}>{n.id}</Link>}
                  {n.pinned && <span className="badge pinned-badge">pinned</span>}
                </td>
                <td>{n.label || <span className="muted">unlabelled</span>}</td>
                <td className="small">
                  {weights(n.id).map((e) => (
                    <span key={e.source} className={e.weight >= 0 ? "pos" : "neg"} title={`${e.kind} weight from ${e.source}`}>
                      {e.source} {e.weight >= 0 ? "+" : ""}
                      {e.weight.toPrecision(3)}{" "}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}

function AddUnit({ onAdd }: { onAdd: (layer: string, index: number) => Promise<boolean> }) {
  const [text, setText] = useState("");
  const m = /^(.+):(\d+)$/.exec(text.trim());
  return (
    <form
      className="panel row"
      onSubmit={async (e) => {
        e.preventDefault();
        if (m && (await onAdd(m[1], Number(m[2])))) setText("");
      }}
    >
      <input aria-label="add unit" placeholder="layer:index, e.g. conv2:5" value={text} onChange={(e) => setText(e.target.value)} className="grow mono" />
      <button type="submit" disabled={!m}>
        Add unit
      </button>
    </form>
  );
}

function ExportPanel({ circuit }: { circuit: Circuit }) {
  const formats: [string, string][] = [
    ["graph-json", "Graph JSON (Neuronpedia)"],
    ["node-link", "networkx node-link"],
    ["graphml", "GraphML"],
    ["html", "HTML report"],
  ];
  return (
    <div className="panel">
      <h2>Export</h2>
      <ul className="plain">
        {formats.map(([f, label]) => (
          <li key={f}>
            <a href={exportPaths.circuit(circuit.id, f)} download data-testid={`export-${f}`}>
              ⬇ {label}
            </a>
          </li>
        ))}
        <li>
          <a href={`${exportPaths.circuit(circuit.id, "html")}&download=false`} target="_blank" rel="noreferrer">
            open the report
          </a>
        </li>
      </ul>
    </div>
  );
}

function HistoryPanel({ cid, tick }: { cid: number; tick: number }) {
  const { data, reload } = useResource(annotateQueries.circuitHistory(cid), { fresh: true });
  const tests = useResource(circuitTestQueries.tests(cid), { fresh: true });
  useEffect(() => {
    reload();
    tests.reload();
  }, [tick]); // eslint-disable-line react-hooks/exhaustive-deps
  // revisions and stored circuit tests (evidence), newest first
  const rows = [
    ...(data ?? []).map((r) => ({ key: `v${r.version}`, at: r.created_at ?? "", el: <>v{r.version} <span className="muted">{formatTime(r.created_at)}</span> <b>{r.editor}</b> {r.action} <span className="muted">{r.summary}</span></> })),
    ...(tests.data ?? []).map((t) => ({ key: `t${t.id}`, at: t.created_at ?? "", el: <>v{t.circuit_version} <span className="muted">{formatTime(t.created_at)}</span> <b>{t.created_by}</b> tested <span className="muted">{t.verdict}</span></> })),
  ].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return (
    <div className="panel">
      <h2>History</h2>
      {!data && <div className="skeleton-row small" aria-busy="true">loading history…</div>}
      <ol className="revisions small">
        {rows.map((r) => (
          <li key={r.key}>{r.el}</li>
        ))}
      </ol>
    </div>
  );
}
