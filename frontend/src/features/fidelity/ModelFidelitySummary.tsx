import { fidelityQueries, pct, ratio } from "./fidelityApi";
import { useResource } from "../../shared/useResource";

/** On the model page: the share of units whose best feature visualization reaches >= 1x / >= 0.5x their top
 * dataset example, overall and per layer (a render that does not excite its unit is a false description). */
export function ModelFidelitySummary({ model }: { model: string }) {
  const { data } = useResource(fidelityQueries.model(model));
  if (!data || data.overall.measured === 0) return null;
  const o = data.overall;
  return (
    <section className="panel fidelity-summary" aria-label="feature visualization fidelity" data-testid="model-fidelity">
      <h2>Feature-visualization fidelity</h2>
      <p className="small">
        Best render's peak ÷ the unit's top dataset example, over {o.measured} of {o.units} units: <strong>{pct(o.at_least_1x)}</strong> reach
        ≥ 1×, <strong>{pct(o.at_least_half)}</strong> reach ≥ {data.weak_below}×, median {ratio(o.median)}, lowest {ratio(o.min)}.
      </p>
      <table className="fidelity-table small">
        <thead>
          <tr>
            <th>layer</th>
            <th>units</th>
            <th>≥ 1×</th>
            <th>≥ {data.weak_below}×</th>
            <th>median</th>
            <th>lowest</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(data.layers).map(([name, s]) => (
            <tr key={name}>
              <td className="mono">{name}</td>
              <td>{s.measured}</td>
              <td>{pct(s.at_least_1x)}</td>
              <td className={s.at_least_half != null && s.at_least_half < 1 ? "fidelity-low" : ""}>{pct(s.at_least_half)}</td>
              <td>{ratio(s.median)}</td>
              <td className={s.min != null && s.min < (data.weak_below ?? 0.5) ? "fidelity-low" : ""}>{ratio(s.min)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
