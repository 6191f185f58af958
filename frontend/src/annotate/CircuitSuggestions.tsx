import { useEffect, useMemo, useState } from "react";
import { getJson } from "../api";
import { Thumb } from "./bits";
import type { Circuit, CircuitNode, Suggestion, Suggestions } from "./annotateApi";

const enc = encodeURIComponent;
const PER_NODE_LIMIT = 100;
const SHOWN_PER_GROUP = 8;

/** Suggestions of one unit (its own strongest inputs and outputs), cached for the page's lifetime: adding
 * a unit fetches only the new unit's, and the other nodes' lists stay where they were. */
const cache = new Map<string, Promise<Suggestions>>();
function unitSuggestions(model: string, layer: string, index: number): Promise<Suggestions> {
  const url = `/api/suggestions/${enc(model)}/${enc(layer)}/${index}?limit=${PER_NODE_LIMIT}`;
  let p = cache.get(url);
  if (!p) {
    p = getJson<Suggestions>(url);
    p.catch(() => cache.delete(url));
    cache.set(url, p);
  }
  return p;
}

interface Group {
  /** "up" = inputs of `node` from `layer`; "down" = outputs of `node` into `layer`. */
  direction: "up" | "down";
  node: CircuitNode;
  layer: string;
  items: (Suggestion & { relative: number })[];
}

/** Group one node's suggestions by the other layer (a layer pair), strength relative to the node's strongest. */
function groupsOf(node: CircuitNode, s: Suggestions): Group[] {
  const out: Group[] = [];
  for (const direction of ["up", "down"] as const) {
    const rows = direction === "up" ? s.upstream : s.downstream;
    const strongest = Math.max(1e-12, ...rows.map((r) => r.l2));
    const byLayer = new Map<string, Group>();
    for (const r of rows) {
      let g = byLayer.get(r.layer);
      if (!g) byLayer.set(r.layer, (g = { direction, node, layer: r.layer, items: [] }));
      g.items.push({ ...r, relative: r.l2 / strongest });
    }
    out.push(...byLayer.values());
  }
  return out;
}

/** Suggested units, per circuit node and per layer pair ("conv1 → conv2:12"), with a strength threshold to
 * add a whole group at once. Nothing already in the circuit is offered; a node's list does not change when
 * units are added elsewhere. */
export function CircuitSuggestions({
  circuit,
  writable,
  onAdd,
}: {
  circuit: Circuit;
  writable: boolean;
  onAdd: (units: { layer: string; index: number }[]) => Promise<boolean>;
}) {
  const nodes = useMemo(() => circuit.nodes.filter((n) => !n.missing), [circuit.nodes]);
  const [lists, setLists] = useState<Record<string, Suggestions | Error>>({});
  const [threshold, setThreshold] = useState(0.3);
  const [adding, setAdding] = useState<Set<string>>(new Set());
  useEffect(() => {
    let live = true;
    for (const n of nodes) {
      if (lists[n.id]) continue;
      unitSuggestions(circuit.model, n.layer, n.index).then(
        (s) => live && setLists((l) => ({ ...l, [n.id]: s })),
        (e) => live && setLists((l) => ({ ...l, [n.id]: e instanceof Error ? e : new Error(String(e)) })),
      );
    }
    return () => {
      live = false;
    };
  }, [nodes, circuit.model]); // eslint-disable-line react-hooks/exhaustive-deps

  const members = new Set(circuit.nodes.map((n) => n.id));
  const add = async (units: { layer: string; index: number }[]) => {
    const keys = units.map((u) => `${u.layer}:${u.index}`);
    setAdding((a) => new Set([...a, ...keys]));
    try {
      await onAdd(units);
    } finally {
      setAdding((a) => new Set([...a].filter((k) => !keys.includes(k))));
    }
  };
  const loadingNodes = nodes.filter((n) => !lists[n.id]);
  const groups = nodes.flatMap((n) => {
    const s = lists[n.id];
    return s && !(s instanceof Error) ? groupsOf(n, s) : [];
  });
  const ordered = [...groups.filter((g) => g.direction === "up"), ...groups.filter((g) => g.direction === "down")];
  return (
    <div className="panel suggestions-panel" data-testid="suggestions-panel">
      <h2>Suggested units</h2>
      <p className="muted small">
        Each node's strongest stored weights (by L2), grouped by layer pair. % = share of that node's strongest connection.
      </p>
      <label className="small row">
        threshold {Math.round(threshold * 100)}%
        <input type="range" min={0} max={1} step={0.05} value={threshold} aria-label="suggestion strength threshold" onChange={(e) => setThreshold(Number(e.target.value))} />
      </label>
      {loadingNodes.length > 0 && (
        <div className="skeleton-list" aria-busy="true" data-testid="suggestions-loading">
          {loadingNodes.slice(0, 3).map((n) => (
            <div key={n.id} className="skeleton-row">
              loading suggestions of {n.id}…
            </div>
          ))}
        </div>
      )}
      {nodes.map((n) => (lists[n.id] instanceof Error ? <div key={n.id} className="error-box small">{n.id}: {(lists[n.id] as Error).message}</div> : null))}
      {!loadingNodes.length && !ordered.some((g) => g.items.some((s) => !members.has(`${s.layer}:${s.index}`))) && (
        <p className="muted small">No stored connections outside the circuit.</p>
      )}
      {ordered.map((g) => (
        <SuggestionGroup key={`${g.direction}-${g.node.id}-${g.layer}`} group={g} members={members} threshold={threshold} writable={writable} adding={adding} onAdd={add} />
      ))}
    </div>
  );
}

function SuggestionGroup({
  group,
  members,
  threshold,
  writable,
  adding,
  onAdd,
}: {
  group: Group;
  members: Set<string>;
  threshold: number;
  writable: boolean;
  adding: Set<string>;
  onAdd: (units: { layer: string; index: number }[]) => Promise<void>;
}) {
  const [all, setAll] = useState(false);
  const open = group.items.filter((s) => !members.has(`${s.layer}:${s.index}`));
  if (!open.length) return null;
  const above = open.filter((s) => s.relative >= threshold);
  const shown = all ? open : open.slice(0, Math.max(SHOWN_PER_GROUP, above.length));
  const title = group.direction === "up" ? `${group.layer} → ${group.node.id}` : `${group.node.id} → ${group.layer}`;
  return (
    <div className="suggestion-group" data-testid="suggestion-group" data-node={group.node.id} data-direction={group.direction} data-layer={group.layer}>
      <h3 className="small">
        {group.direction === "up" ? "inputs" : "outputs"} <span className="mono">{title}</span>{" "}
        <span className="muted">
          {open.length} · {above.length} ≥ {Math.round(threshold * 100)}%
        </span>
      </h3>
      {writable && above.length > 0 && (
        <button
          type="button"
          className="small"
          disabled={above.some((s) => adding.has(`${s.layer}:${s.index}`))}
          onClick={() => onAdd(above.map((s) => ({ layer: s.layer, index: s.index })))}
          data-testid="add-group"
        >
          add all {above.length} {group.layer} {group.direction === "up" ? "inputs" : "outputs"} ≥ {Math.round(threshold * 100)}%
        </button>
      )}
      <ul className="plain suggestions">
        {shown.map((s) => {
          const key = `${s.layer}:${s.index}`;
          return (
            <li key={key} data-testid="suggestion" className={s.relative < threshold ? "weak" : ""}>
              <Thumb src={s.image} size={36} alt={key} />
              <span className="mono small">{key}</span>
              <span className={s.weight >= 0 ? "pos small" : "neg small"} title={`${s.kind} weight (sum of the kernel), L2 ${s.l2.toPrecision(3)}`}>
                {s.weight >= 0 ? "+" : ""}
                {s.weight.toPrecision(3)}
              </span>
              <span className="muted small" title="L2 of this connection as a share of the node's strongest">
                {Math.round(s.relative * 100)}%
              </span>
              <span className="small ellipsis" title={s.label}>
                {s.label}
              </span>
              {writable && (
                <button type="button" className="small" disabled={adding.has(key)} onClick={() => onAdd([{ layer: s.layer, index: s.index }])} aria-label={`add ${key}`}>
                  {adding.has(key) ? "adding…" : "+ add"}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {open.length > shown.length && (
        <button type="button" className="small linkish" onClick={() => setAll(true)}>
          show all {open.length}
        </button>
      )}
    </div>
  );
}
