import { useState } from "react";
import { fidelityQueries, ratio, type UnitFidelityRow } from "./fidelityApi";
import { useResource } from "../../shared/useResource";

/** The layer grid's "fidelity" switch (remembered), and the per-unit rows once it is on. */
export function useLayerFidelity(model: string, layer: string) {
  const [on, setOn] = useState(() => localStorage.getItem("cs.gridFidelity") === "1");
  const { data } = useResource(on ? fidelityQueries.layer(model, layer) : null);
  const byIndex = new Map<number, UnitFidelityRow>((data?.units ?? []).map((u) => [u.index, u]));
  const toggle = (
    <label title="each unit's best render's peak ÷ its top dataset example; red below 0.5×">
      <input
        type="checkbox"
        checked={on}
        onChange={(e) => {
          setOn(e.target.checked);
          localStorage.setItem("cs.gridFidelity", e.target.checked ? "1" : "0");
        }}
        data-testid="fidelity-toggle"
      />{" "}
      fidelity
      {data && on && <FidelityCounts rows={data.units} weak={data.weak_below ?? 0.5} />}
    </label>
  );
  return { on, toggle, row: (i: number) => byIndex.get(i), weak: data?.weak_below ?? 0.5 };
}

function FidelityCounts({ rows, weak }: { rows: UnitFidelityRow[]; weak: number }) {
  const low = rows.filter((r) => r.failure || (r.best != null && r.best < weak)).length;
  return <span className="muted"> ({low} below {weak}×)</span>;
}

/** A small badge on a grid cell: the unit's best render / top example; red below 0.5×, the reason on hover. */
export function FidelityBadge({ row, weak }: { row: UnitFidelityRow | undefined; weak: number }) {
  if (!row) return null;
  const low = !!row.failure || (row.best != null && row.best < weak);
  const title = row.failure
    ? `not rendered: ${row.failure}`
    : `best render (${row.best_objective ?? "–"}) ${ratio(row.best)} · channel render ${ratio(row.channel)} of the top example` +
      (row.note ? ` — ${row.note}` : "");
  return (
    <span className={`fidelity-badge ${low ? "low" : ""}`} title={title} data-testid="fidelity-badge">
      {row.failure ? "no render" : ratio(row.best)}
    </span>
  );
}
