// 2. Layers: pick from the discovered list (filter, select shown), or type names and glob patterns.
import { useMemo, useState } from "react";
import { ErrorBox } from "../../../shared/ErrorBox";
import { isPattern, matchLayers, type DiscoverOut } from "../jobsApi";
import { FieldSet } from "../../../shared/form";
import { selectedLayers } from "./formState";

export interface LayerChoice {
  add: (names: string[]) => void;
  remove: (name: string) => void;
  clear: () => void;
}

export function LayersSection({
  layers,
  choose,
  discovered,
  problem,
  refusal,
}: {
  layers: string[];
  choose: LayerChoice;
  /** The model's layers from "Discover layers" (possibly of an earlier model), null before. */
  discovered: DiscoverOut | null;
  problem: string | undefined;
  /** Start's refusal when it is about the layers, else null. */
  refusal: unknown;
}) {
  const names = useMemo(() => (discovered ? discovered.layers.map((l) => l.name) : []), [discovered]);
  // kept here, not in the checklist, so a failed re-discovery does not forget it
  const [filter, setFilter] = useState("");
  const extraItems = layers.filter((l) => isPattern(l) || !names.includes(l));
  return (
    <FieldSet title="2. Layers" id="layers" className="job-form-section">
      {discovered ? (
        <LayerChecklist discovered={discovered} names={names} layers={layers} choose={choose} filter={filter} setFilter={setFilter} />
      ) : (
        <p className="muted">
          Discover the model's layers to pick them from a list, or type layer names or glob patterns (e.g.{" "}
          <code>layer1.*</code>) below.
        </p>
      )}
      <div className="field-row">
        <LayerPatternForm names={discovered ? names : null} add={choose.add} />
      </div>
      {extraItems.length > 0 && (
        <div className="chips" aria-label="Typed layers and patterns">
          {extraItems.map((l) => (
            <span key={l} className="chip mono">
              {l}
              <button type="button" className="chip-x" aria-label={`remove ${l}`} onClick={() => choose.remove(l)}>
                ×
              </button>
            </span>
          ))}
        </div>
      )}
      {problem && (
        <div className="field-problem" role="alert" data-field="layers">
          {problem}
        </div>
      )}
      {refusal !== null && <ErrorBox error={refusal} />}
    </FieldSet>
  );
}

/** The discovered layers as a table of checkboxes, with a filter (text or * pattern). */
function LayerChecklist({
  discovered,
  names,
  layers,
  choose,
  filter,
  setFilter,
}: {
  discovered: DiscoverOut;
  names: string[];
  layers: string[];
  choose: LayerChoice;
  filter: string;
  setFilter: (filter: string) => void;
}) {
  const filtered = useMemo(() => {
    const f = filter.trim().toLowerCase();
    if (!f) return discovered.layers;
    if (isPattern(f)) {
      const hits = new Set(matchLayers([f], names.map((n) => n.toLowerCase())));
      return discovered.layers.filter((l) => hits.has(l.name.toLowerCase()));
    }
    return discovered.layers.filter((l) => l.name.toLowerCase().includes(f) || l.module_type.toLowerCase().includes(f));
  }, [discovered, filter, names]);
  const selected = selectedLayers(discovered, layers);
  return (
    <>
      <div className="layer-tools">
        <input className="mono" placeholder="filter: name or type (or a * pattern)" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter layers" />
        <button type="button" className="small" onClick={() => choose.add(filtered.map((l) => l.name))} disabled={!filtered.length}>
          Select shown ({filtered.length})
        </button>
        <button type="button" className="small" onClick={choose.clear} disabled={!layers.length}>
          Clear
        </button>
        <span className="muted small">
          {selected.names.size} layer{selected.names.size === 1 ? "" : "s"} selected · {selected.units.toLocaleString()} units
        </span>
      </div>
      <div className="layer-checklist">
        <table className="layers">
          <thead>
            <tr>
              <th />
              <th>Layer</th>
              <th>Type</th>
              <th>Output shape</th>
              <th className="num">Units</th>
            </tr>
          </thead>
          <tbody>
            {filtered.map((l) => {
              const chosen = layers.includes(l.name);
              const byPattern = !chosen && selected.names.has(l.name);
              return (
                <tr key={l.name} className={selected.names.has(l.name) ? "selected" : ""}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`layer ${l.name}`}
                      checked={chosen}
                      disabled={byPattern}
                      title={byPattern ? "selected by a pattern" : undefined}
                      onChange={(e) => (e.target.checked ? choose.add([l.name]) : choose.remove(l.name))}
                    />
                  </td>
                  <td className="layer-name">{l.name}</td>
                  <td className="muted">{l.module_type}</td>
                  <td className="muted mono">{l.output_shape ? l.output_shape.join("×") : "?"}</td>
                  <td className="num">{l.channels ?? "?"}</td>
                </tr>
              );
            })}
            {!filtered.length && (
              <tr>
                <td colSpan={5} className="muted">
                  No layer matches “{filter}”.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Type a layer name or a glob pattern; with the layers known, select every layer a pattern matches. */
function LayerPatternForm({ names, add }: { names: string[] | null; add: (names: string[]) => void }) {
  const [pattern, setPattern] = useState("");
  const typed = pattern.trim();
  const hits = typed && names ? matchLayers([typed], names) : [];
  return (
    <form
      className="field"
      onSubmit={(e) => {
        e.preventDefault();
        if (typed) add([typed]);
        setPattern("");
      }}
    >
      <label htmlFor="layer-pattern">Add a layer name or pattern</label>
      <div className="path-input">
        <input id="layer-pattern" className="mono" value={pattern} onChange={(e) => setPattern(e.target.value)} placeholder="e.g. conv* or layer2.*.conv1" />
        <button type="submit" disabled={!typed}>
          Add
        </button>
        {names && isPattern(pattern) && (
          <button
            type="button"
            onClick={() => {
              add(hits);
              setPattern("");
            }}
            disabled={!hits.length}
          >
            Select the {hits.length} matching
          </button>
        )}
      </div>
      <div className="muted small">
        {names && typed ? `matches ${hits.length} of the discovered layers` : "* matches any characters, dots included; a pattern is resolved by the worker"}
      </div>
    </form>
  );
}
