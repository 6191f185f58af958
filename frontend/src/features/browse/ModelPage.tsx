import { Link, useParams } from "react-router-dom";
import { ErrorBox } from "../../shared/ErrorBox";
import { LayerTable } from "./LayerTable";
import { Loading } from "../../shared/Loading";
import { ProgressBar, StatusBadge } from "../../shared/StatusBadge";
import { ModelFidelitySummary } from "../fidelity/ModelFidelitySummary";
import { browseQueries } from "./browseApi";
import { useResource, useTitle } from "../../shared/useResource";

/** One model: its layers, with links to each layer's grid. */
export function ModelPage() {
  const { model = "" } = useParams();
  useTitle(model);
  const { data: m, error, loading } = useResource(browseQueries.model(model));
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
        <StatusBadge kind="layer" status={m.status} progress={m.progress} /> <ProgressBar value={m.progress} />
      </p>
      {m.description && <p className="description">{m.description}</p>}
      <LayerTable model={m.slug} layers={m.layers} />
      <ModelFidelitySummary model={m.slug} />
    </div>
  );
}
