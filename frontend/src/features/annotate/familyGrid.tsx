// For the layer grid: which family each unit belongs to (colour / filter), from GET /api/family-map.
import type { Schemas } from "../../shared/api/client";
import { useResource } from "../../shared/useResource";
import { annotateQueries, type FamilySummary } from "./annotateApi";

export type FamilyMap = Schemas["FamilyMapOut"];

/** `colorOf(index)` is the first family's colour (or undefined); `familiesOf(index)` the families. */
export function useFamilyMap(model: string, layer: string) {
  const { data } = useResource(model && layer ? annotateQueries.familyMap(model, layer) : null, { fresh: true });
  const byId = new Map((data?.families ?? []).map((f) => [f.id, f]));
  const familiesOf = (index: number) => (data?.units[String(index)] ?? []).map((id) => byId.get(id)!).filter(Boolean);
  return {
    families: data?.families ?? [],
    familiesOf,
    colorOf: (index: number) => familiesOf(index)[0]?.color as string | undefined,
  };
}

/** Clickable legend: choose a family to filter the grid (null = all). */
export function FamilyLegend({
  families,
  selected,
  onSelect,
}: {
  families: FamilySummary[];
  selected: number | null;
  onSelect: (id: number | null) => void;
}) {
  if (!families.length) return null;
  return (
    <span className="family-legend">
      {families.map((f) => (
        <button
          type="button"
          key={f.id}
          className={`family-chip small ${selected === f.id ? "active" : ""}`}
          style={{ borderColor: f.color }}
          title={f.comment}
          onClick={() => onSelect(selected === f.id ? null : f.id)}
        >
          <span className="swatch" style={{ background: f.color }} />
          {f.name}
        </button>
      ))}
    </span>
  );
}
