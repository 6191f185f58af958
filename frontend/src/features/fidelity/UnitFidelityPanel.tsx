import { fidelityQueries, ratio } from "./fidelityApi";
import { useResource } from "../../shared/useResource";

const NAMES: Record<string, string> = {
  channel: "channel",
  neuron: "neuron",
  negative: "negative",
  diversity: "diversity",
  accentuation: "accentuation",
};

/** Under the unit's feature visualizations: how strongly each render excites the unit, relative to its top
 * dataset example; renders below 0.5× are flagged (with the reason when known), failures are named. */
export function UnitFidelityPanel({ model, layer, index }: { model: string; layer: string; index: number }) {
  const { data } = useResource(fidelityQueries.unit(model, layer, index));
  if (!data || (!data.renders.length && !data.failures.length)) return null;
  const positive = data.renders.filter((r) => r.objective !== "negative");
  const weak = positive.filter((r) => r.fidelity != null && r.fidelity < (data.weak_below ?? 0.5));
  // accentuation starts from the top example itself (~1× at step 0): it does not count as the best render
  const best = positive
    .filter((r) => r.objective !== "accentuation")
    .reduce<number | null>((m, r) => (r.fidelity != null && (m == null || r.fidelity > m) ? r.fidelity : m), null);
  return (
    <section className="panel fidelity-panel" aria-label="feature visualization fidelity" data-testid="fv-fidelity">
      <h2>Render fidelity</h2>
      <p className="muted small">
        Each render's peak activation ÷ the unit's top dataset example ({data.top_activation == null ? "not computed" : data.top_activation.toFixed(2)}).
        Best render: <strong>{ratio(best)}</strong>. Renders below {data.weak_below}× do not excite the unit as its best example does: read them with care.
      </p>
      {data.failures.map((f) => (
        <div key={f.objective} className="notice fidelity-failure" role="alert">
          No {NAMES[f.objective] ?? f.objective} render: {f.reason}
        </div>
      ))}
      {weak.length > 0 && (
        <div className="notice fidelity-weak" role="status" data-testid="fv-weak">
          {weak.length} render{weak.length > 1 ? "s" : ""} below {data.weak_below}× the top example:
          <ul>
            {weak.map((r) => (
              <li key={`${r.objective}-${r.variant}`}>
                {NAMES[r.objective] ?? r.objective}
                {r.objective === "diversity" ? ` ${r.variant + 1}` : ""}: {ratio(r.fidelity)}
                {r.note ? ` — ${r.note}` : ""}
              </li>
            ))}
          </ul>
        </div>
      )}
      <table className="fidelity-table small">
        <thead>
          <tr>
            {data.renders.map((r) => (
              <th key={`${r.objective}-${r.variant}`}>
                {NAMES[r.objective] ?? r.objective}
                {r.objective === "diversity" ? ` ${r.variant + 1}` : ""}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            {data.renders.map((r) => (
              <td
                key={`${r.objective}-${r.variant}`}
                className={r.objective !== "negative" && r.fidelity != null && r.fidelity < (data.weak_below ?? 0.5) ? "fidelity-low" : ""}
                title={r.objective === "negative" ? "negative renders minimise the unit: their peak is expected to be low" : r.note ?? ""}
              >
                {ratio(r.fidelity)}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
    </section>
  );
}
