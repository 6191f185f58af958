import { Link, useParams } from "react-router-dom";
import { ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import { useResource, useTitle } from "../../shared/useResource";
import { annotateQueries, exportPaths } from "./annotateApi";

/** Per layer: how much is labelled, how many units have several annotators, and how often they agree. */
export function AgreementPage() {
  const { model = "" } = useParams();
  useTitle(`Agreement · ${model}`);
  const { data, error, loading } = useResource(annotateQueries.agreement(model), { fresh: true });
  if (loading) return <Loading what="Computing agreement" />;
  if (error) return <ErrorBox error={error} />;
  return (
    <div>
      <h1>
        Labels and agreement <span className="slug">{model}</span>
      </h1>
      <p className="muted small">
        Agreement = share of annotator pairs that gave the same label (case and spacing ignored), averaged over units with two or more annotators.
      </p>
      <table className="layers">
        <thead>
          <tr>
            <th>layer</th>
            <th className="num">units</th>
            <th className="num">labelled</th>
            <th className="num">labels</th>
            <th className="num">2+ annotators</th>
            <th className="num">agreement</th>
            <th className="num">disputed</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.map((l) => (
            <tr key={l.layer}>
              <td className="layer-name">{l.layer}</td>
              <td className="num">{l.channels ?? "–"}</td>
              <td className="num">{l.labeled_units}</td>
              <td className="num">{l.labels}</td>
              <td className="num">{l.multi_annotated_units}</td>
              <td className="num">{l.agreement === null ? "–" : `${Math.round(l.agreement * 100)}%`}</td>
              <td className="num">{l.disputed_units}</td>
              <td>
                <Link to={`/queue/${encodeURIComponent(model)}/${encodeURIComponent(l.layer)}`}>label</Link> ·{" "}
                <Link to={`/search?model=${encodeURIComponent(model)}&layer=${encodeURIComponent(l.layer)}&status=disputed`}>disputed</Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <a href={exportPaths.labels(model, "csv")} download>
          Download labels CSV
        </a>{" "}
        ·{" "}
        <a href={exportPaths.labels(model, "json")} download>
          JSON
        </a>
      </p>
    </div>
  );
}
