import { Link } from "react-router-dom";
import { ProgressBar, StageList, StatusBadge } from "../../shared/StatusBadge";
import { pagePaths } from "../../shared/paths";
import { type LayerSummary } from "./browseApi";

/** A model's layers in execution order: shape, units, what is computed. */
export function LayerTable({ model, layers }: { model: string; layers: LayerSummary[] }) {
  if (!layers.length) return <p className="muted">This model has no layers recorded yet.</p>;
  return (
    <table className="layers">
      <thead>
        <tr>
          <th>Layer</th>
          <th>Type</th>
          <th>Output shape</th>
          <th className="num">Units</th>
          <th>Status</th>
          <th>Stages</th>
        </tr>
      </thead>
      <tbody>
        {layers.map((l) => (
          <tr key={l.name} className={`layer-row status-${l.status}`}>
            <td>
              <Link to={pagePaths.layer(model, l.name)} className="layer-name">
                {l.name}
              </Link>
            </td>
            <td className="muted">{l.module_type}</td>
            <td className="muted mono">{l.output_shape.join("×")}</td>
            <td className="num">{l.channels}</td>
            <td>
              <StatusBadge kind="layer" status={l.status} progress={l.progress} stages={l.stages} />
              {l.status !== "done" && l.status !== "not_computed" && <ProgressBar value={l.progress} />}
            </td>
            <td>
              <StageList stages={l.stages} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
