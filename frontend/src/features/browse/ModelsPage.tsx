import { Link } from "react-router-dom";
import { ComputeHint } from "./ComputeHint";
import { EmptyState, ErrorBox } from "../../shared/ErrorBox";
import { LayerTable } from "./LayerTable";
import { Loading } from "../../shared/Loading";
import { ProgressBar, StatusBadge } from "../../shared/StatusBadge";
import { pagePaths } from "../../shared/paths";
import { browseQueries } from "./browseApi";
import { useResource, useTitle } from "../../shared/useResource";

/** Every model with its layers and how far each is computed. */
export function ModelsPage() {
  useTitle("Models");
  const { data, error, loading } = useResource(browseQueries.models());
  if (loading) return <Loading what="Loading models" />;
  if (error) return <ErrorBox error={error} />;
  if (!data || data.length === 0)
    return (
      <EmptyState title="No models yet">
        <p>Compute a model's units first; the demo model trains in a minute on generated images:</p>
        <ComputeHint command="circuitscope demo --no-serve" />
        <ComputeHint intro="or your own model, layer by layer:" command="circuitscope compute --model torchvision:resnet18 --layers 'layer1.*'" />
      </EmptyState>
    );
  return (
    <div className="models-page">
      <h1>Models</h1>
      {data.map((m) => (
        <section key={m.slug} className="model-card" data-model={m.slug}>
          <div className="model-head">
            <h2>
              <Link to={pagePaths.model(m.slug)}>{m.name || m.slug}</Link>
              <span className="slug mono">{m.slug}</span>
            </h2>
            <span className="model-meta">
              {m.num_layers} layers · {m.num_units.toLocaleString()} units · input {m.input_size}px ·{" "}
              <StatusBadge kind="layer" status={m.status} progress={m.progress} /> <ProgressBar value={m.progress} />
            </span>
          </div>
          {m.description && <p className="description">{m.description}</p>}
          <LayerTable model={m.slug} layers={m.layers} />
        </section>
      ))}
    </div>
  );
}
