import { useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiError } from "../../shared/api/client";
import { ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import {
  annotateCalls,
  annotateQueries,
  canWrite,
  useMe,
  type Label,
  type FamilySummary,
  type LabelStatus,
  type UnitLabels,
} from "./annotateApi";
import { afterWrite, errorText } from "../../shared/api/client";
import { formatTime } from "../../shared/format";
import { StatusBadge } from "../../shared/StatusBadge";
import { useResource } from "../../shared/useResource";
import { ConsensusBadge, Tags } from "./bits";

interface Draft {
  label: string;
  description: string;
  tags: string;
  confidence: number;
  status: LabelStatus;
}

type UnitKey = { model: string; layer: string; index: number };

const emptyDraft: Draft = { label: "", description: "", tags: "", confidence: 0.5, status: "draft" };
const toDraft = (l: Label | null): Draft =>
  l && !l.deleted
    ? { label: l.label, description: l.description, tags: l.tags.join(", "), confidence: l.confidence, status: l.status }
    : { ...emptyDraft };
export const parseTags = (s: string) =>
  s
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

/** The unit page's annotation section: everyone's labels, consensus, your label, history, families, circuits. */
export function UnitAnnotationPanel({ modelSlug, layerName, unitIndex }: { modelSlug: string; layerName: string; unitIndex: number; unitId: number }) {
  const { me } = useMe();
  const unit = { model: modelSlug, layer: layerName, index: unitIndex };
  const { data, error, loading, reload, set } = useResource(annotateQueries.labels(modelSlug, layerName, unitIndex), { fresh: true });
  if (loading && !data) return <Loading what="Loading labels" />;
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const writable = canWrite(me);
  return (
    <div className="annot" data-testid="annotation-panel">
      <ConsensusView data={data} />
      <LabelList labels={data.labels} mine={data.mine?.id} />
      {writable ? (
        <LabelEditor key={`${modelSlug}/${layerName}/${unitIndex}`} unit={unit} state={data} onSaved={set} reload={reload} />
      ) : (
        <p className="muted small">
          {me?.user ? `You are a ${me.user.role}: labelling needs the annotator role.` : <><Link to="/login">Sign in</Link> to add your label.</>}
        </p>
      )}
      <History unit={unit} version={data.labels.map((l) => l.version).join(",")} />
      <UnitFamilies state={data} writable={writable} reload={reload} />
      <UnitCircuits state={data} writable={writable} reload={reload} />
    </div>
  );
}

function ConsensusView({ data }: { data: UnitLabels }) {
  const c = data.consensus;
  if (!c) return <p className="muted">No label yet.</p>;
  return (
    <div className="consensus">
      <span className="consensus-label" data-testid="consensus-label">
        {c.label}
      </span>{" "}
      <ConsensusBadge state={c.state} />{" "}
      <span className="muted small">
        {c.n_annotators} annotator{c.n_annotators === 1 ? "" : "s"}
        {c.n_annotators > 1 ? `, ${Math.round(c.support * 100)}% agree` : ""}
      </span>
      {c.candidates.length > 1 && (
        <ul className="candidates small">
          {c.candidates.map((k) => (
            <li key={k.label}>
              <b>{k.label}</b> — {k.votes} ({k.annotators.join(", ")})
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function LabelList({ labels, mine }: { labels: Label[]; mine: number | undefined }) {
  if (!labels.length) return null;
  return (
    <ul className="label-list">
      {labels.map((l) => (
        <li key={l.id} className={l.id === mine ? "mine" : ""}>
          <div>
            <b className="label-text-full">{l.label || <em className="muted">(empty)</em>}</b> <StatusBadge kind="label" status={l.status} />{" "}
            <span className="conf" title={`confidence ${l.confidence}`}>
              <span style={{ width: `${l.confidence * 100}%` }} />
            </span>
          </div>
          {l.description && <div className="desc">{l.description}</div>}
          <Tags tags={l.tags} />
          <div className="muted small">
            {l.annotator}
            {l.id === mine ? " (you)" : ""} · v{l.version} · {formatTime(l.updated_at)}
            {l.updated_by && l.updated_by !== l.annotator ? ` · last edited by ${l.updated_by}` : ""}
          </div>
        </li>
      ))}
    </ul>
  );
}

function LabelEditor({ unit, state, onSaved, reload }: { unit: UnitKey; state: UnitLabels; onSaved: (s: UnitLabels) => void; reload: () => void }) {
  const mine = state.mine;
  const [draft, setDraft] = useState<Draft>(() => toDraft(mine));
  const [base, setBase] = useState<number | null>(mine ? mine.version : null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [conflict, setConflict] = useState<Label | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    // new data from the server (after our save): follow it unless the user is mid-edit
    if (!busy && mine && mine.version !== base && !conflict) {
      setDraft(toDraft(mine));
      setBase(mine.version);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mine?.version]);

  const save = async (version: number | null = base) => {
    setBusy(true);
    setErr(null);
    setSaved(false);
    try {
      const next = await annotateCalls.saveLabel(unit.model, unit.layer, unit.index, {
        label: draft.label,
        description: draft.description,
        tags: parseTags(draft.tags),
        confidence: draft.confidence,
        status: draft.status,
        version,
      });
      setConflict(null);
      setBase(next.mine?.version ?? null);
      onSaved(next);
      afterWrite();
      setSaved(true);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setConflict((e.body.current as Label) ?? null);
        setErr(e.message);
      } else setErr(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const withdraw = async () => {
    if (!mine) return;
    setBusy(true);
    try {
      await annotateCalls.deleteLabel(mine.id, mine.version);
      afterWrite();
      reload();
      setDraft({ ...emptyDraft });
      setBase(mine.version + 1);
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const dirty = JSON.stringify(draft) !== JSON.stringify(toDraft(mine));
  return (
    <form
      className="label-editor"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void save();
        }
      }}
    >
      <h3>{mine && !mine.deleted ? `Your label (v${mine.version})` : "Your label"}</h3>
      <input
        aria-label="label"
        name="label"
        placeholder="short name, e.g. curve detector"
        maxLength={200}
        value={draft.label}
        onChange={(e) => setDraft({ ...draft, label: e.target.value })}
      />
      <textarea
        aria-label="description"
        placeholder="what it responds to, evidence, caveats"
        maxLength={5000}
        rows={3}
        value={draft.description}
        onChange={(e) => setDraft({ ...draft, description: e.target.value })}
      />
      <input aria-label="tags" placeholder="tags, comma separated" value={draft.tags} onChange={(e) => setDraft({ ...draft, tags: e.target.value })} />
      <div className="row">
        <label className="small">
          confidence {draft.confidence.toFixed(2)}
          <input
            type="range"
            aria-label="confidence"
            min={0}
            max={1}
            step={0.05}
            value={draft.confidence}
            onChange={(e) => setDraft({ ...draft, confidence: Number(e.target.value) })}
          />
        </label>
        <select aria-label="status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value as LabelStatus })}>
          <option value="draft">draft</option>
          <option value="confident">confident</option>
          <option value="disputed">disputed</option>
        </select>
        <button type="submit" disabled={busy || !draft.label.trim() || !dirty} title="Ctrl+Enter">
          Save label
        </button>
        {mine && !mine.deleted && (
          <button type="button" className="small" disabled={busy} onClick={withdraw} title="Withdraw (kept in history)">
            Withdraw
          </button>
        )}
        {saved && !dirty && <span className="ok small">saved</span>}
      </div>
      {err && !conflict && <div className="error-box small">{err}</div>}
      {conflict && (
        <div className="conflict" role="alert">
          <strong>Someone changed this label since you loaded it.</strong>
          <p className="small">{err}</p>
          <p className="small">
            Now (v{conflict.version}): <b>{conflict.label}</b> <StatusBadge kind="label" status={conflict.status} /> {conflict.description}
          </p>
          <button
            type="button"
            onClick={() => {
              setDraft(toDraft(conflict));
              setBase(conflict.version);
              setConflict(null);
              setErr(null);
              reload();
            }}
          >
            Take theirs
          </button>{" "}
          <button type="button" onClick={() => save(conflict.version)}>
            Save mine over it (v{conflict.version + 1})
          </button>
        </div>
      )}
    </form>
  );
}

function History({ unit, version }: { unit: UnitKey; version: string }) {
  const [open, setOpen] = useState(false);
  const { data } = useResource(open ? annotateQueries.labelHistory(unit.model, unit.layer, unit.index, version) : null, { fresh: true });
  return (
    <div className="history">
      <button type="button" className="small" onClick={() => setOpen(!open)} aria-expanded={open}>
        {open ? "Hide history" : "History"}
      </button>
      {open && data && (
        <ol className="revisions small" data-testid="label-history">
          {data.map((r) => (
            <li key={`${r.label_id}-${r.version}`}>
              <span className="muted">{formatTime(r.created_at)}</span> <b>{r.editor}</b> {r.action}
              {r.annotator && r.annotator !== r.editor ? ` (label of ${r.annotator})` : ""} v{r.version}:{" "}
              <span>{String(r.snapshot.label ?? "")}</span>
              {Boolean(r.snapshot.deleted) && <span className="muted"> (withdrawn)</span>}{" "}
              <span className="muted">
                [{String(r.snapshot.status)}, {Number(r.snapshot.confidence).toFixed(2)}]
              </span>
            </li>
          ))}
          {!data.length && <li className="muted">No changes yet.</li>}
        </ol>
      )}
    </div>
  );
}

function UnitFamilies({ state, writable, reload }: { state: UnitLabels; writable: boolean; reload: () => void }) {
  const { model, layer, index } = state.unit;
  const { data: all } = useResource(writable ? annotateQueries.families(model) : null, { fresh: true });
  const [pick, setPick] = useState("");
  const [newName, setNewName] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const mineIds = new Set(state.families.map((f) => f.id));
  const add = async () => {
    setErr(null);
    try {
      if (pick === "__new") {
        await annotateCalls.createFamily({ model, name: newName.trim(), units: [{ layer, index }] });
        setNewName("");
      } else {
        const f = all?.find((x) => String(x.id) === pick);
        if (!f) return;
        await annotateCalls.familyMembers(f.id, { version: f.version, add: [{ layer, index }] });
      }
      setPick("");
      afterWrite();
      reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  const remove = async (f: FamilySummary) => {
    try {
      const fresh = await annotateCalls.family(f.id);
      await annotateCalls.familyMembers(f.id, { version: fresh.version, remove: [{ layer, index }] });
      afterWrite();
      reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  return (
    <div className="unit-families">
      <h3>Families</h3>
      {state.families.map((f) => (
        <span key={f.id} className="family-chip" style={{ borderColor: f.color || "#999" }} title={f.comment}>
          <span className="swatch" style={{ background: f.color || "#999" }} />
          <Link to={`/families?model=${encodeURIComponent(model)}#f${f.id}`}>{f.name}</Link>
          {writable && (
            <button type="button" className="chip-x" aria-label={`remove from ${f.name}`} onClick={() => remove(f)}>
              ×
            </button>
          )}
        </span>
      ))}
      {!state.families.length && <span className="muted small">none </span>}
      {writable && (
        <span className="inline-form">
          <select aria-label="add to family" value={pick} onChange={(e) => setPick(e.target.value)}>
            <option value="">add to family…</option>
            {all
              ?.filter((f) => !mineIds.has(f.id))
              .map((f) => (
                <option key={f.id} value={String(f.id)}>
                  {f.name} ({f.size})
                </option>
              ))}
            <option value="__new">new family…</option>
          </select>
          {pick === "__new" && (
            <input
              aria-label="new family name"
              placeholder="family name"
              autoFocus
              maxLength={200}
              value={newName}
              onChange={(e) => setNewName(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  void add();
                }
              }}
            />
          )}
          {pick && (pick !== "__new" || newName.trim()) && (
            <button type="button" className="small" onClick={add}>
              Add
            </button>
          )}
        </span>
      )}
      {err && <div className="error-box small">{err}</div>}
    </div>
  );
}

function UnitCircuits({ state, writable, reload }: { state: UnitLabels; writable: boolean; reload: () => void }) {
  const navigate = useNavigate();
  const { model, layer, index } = state.unit;
  const { data: all } = useResource(writable ? annotateQueries.circuits({ model }) : null, { fresh: true });
  const [err, setErr] = useState<string | null>(null);
  const [target, setTarget] = useState("");
  // disabled while a request runs: a double click must not create two circuits
  const [busy, setBusy] = useState(false);
  const running = useRef(false); // also guards clicks that arrive before the re-render disables the button
  const member = new Set(state.circuits.map((c) => c.id));
  const start = async () => {
    if (running.current) return;
    running.current = true;
    setErr(null);
    setBusy(true);
    try {
      const c = await annotateCalls.createCircuit({
        model,
        name: `${state.consensus?.label || `${layer}:${index}`} circuit`,
        units: [{ layer, index }],
      });
      navigate(`/circuits/${c.id}`);
    } catch (e) {
      setErr(errorText(e));
      setBusy(false);
      running.current = false;
    }
  };
  const addTo = async () => {
    const c = all?.find((x) => String(x.id) === target);
    if (!c || running.current) return;
    running.current = true;
    setBusy(true);
    try {
      const fresh = await annotateCalls.circuit(c.id);
      await annotateCalls.addNodes(c.id, { version: fresh.version, units: [{ layer, index }] });
      setTarget("");
      reload();
    } catch (e) {
      setErr(errorText(e));
    } finally {
      setBusy(false);
      running.current = false;
    }
  };
  return (
    <div className="unit-circuits">
      <h3>Circuits</h3>
      <ul className="plain">
        {state.circuits.map((c) => (
          <li key={c.id}>
            <Link to={`/circuits/${c.id}`}>{c.name}</Link> <StatusBadge kind="circuit" status={c.status} />{" "}
            <span className="muted small">{c.n_nodes} units</span>
          </li>
        ))}
      </ul>
      {writable && (
        <div className="row">
          <button type="button" onClick={start} data-testid="start-circuit" disabled={busy}>
            {busy ? "Starting…" : "Start circuit here"}
          </button>
          <select aria-label="add to circuit" value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">add to circuit…</option>
            {all
              ?.filter((c) => !member.has(c.id))
              .map((c) => (
                <option key={c.id} value={String(c.id)}>
                  {c.name}
                </option>
              ))}
          </select>
          {target && (
            <button type="button" className="small" onClick={addTo} disabled={busy}>
              Add
            </button>
          )}
        </div>
      )}
      {err && <div className="error-box small">{err}</div>}
    </div>
  );
}
