import { Link, useParams } from "react-router-dom";
import { apiPaths, type ModelSummary } from "../../shared/api/client";
import { ErrorBox } from "../../shared/ErrorBox";
import { LayerTable } from "./LayerTable";
import { Loading } from "../../shared/Loading";
import { ProgressBar, StatusBadge } from "../../shared/StatusBadge";
import { useApi, useTitle } from "../../shared/useApi";
import { ModelFidelitySummary } from "../fidelity/ModelFidelitySummary";

/** One model: its layers, with links to each layer's grid. */
export function ModelPage() {
  const { model = "" } = useParams();
  useTitle(model);
  const { data: m, error, loading } = useApi<ModelSummary>(apiPaths.model(model));
  if (loading) return <Loading what={`Loading model ${model}`} />;
  if (error || !m)
    return (
      <ErrorBox error={error}>
        <p>
          <Link to="/">See all models</Link>
        </p>
      </ErrorBox>
    );
  return (
    <div className="model-page">
      <nav className="crumbs">
        <Link to="/">Models</Link> ›
      </nav>
      <h1>
        {m.name || m.slug} <span className="slug mono">{m.slug}</span>
      </h1>
      <p className="model-meta">
        {m.num_layers} layers · {m.num_units.toLocaleString()} units · input {m.input_size}px ·{" "}
        <StatusBadge status={m.status} progress={m.progress} /> <ProgressBar value={m.progress} />
      </p>
      {m.description && <p className="description">{m.description}</p>}
      <LayerTable model={m.slug} layers={m.layers} />
      <ModelFidelitySummary model={m.slug} />
    </div>
  );
}
