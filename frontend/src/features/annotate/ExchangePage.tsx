import { useState } from "react";
import { Link } from "react-router-dom";
import { afterWrite, errorText } from "../../shared/api/client";
import { annotateCalls, canWrite, exportPaths, useMe, type Circuit } from "./annotateApi";
import { browseQueries } from "../browse/browseApi";
import { useResource, useTitle } from "../../shared/useResource";

/** Downloads (project, labels per model) and imports (project, circuit graph JSON). */
export function ExchangePage() {
  useTitle("Export / import");
  const { me } = useMe();
  const { data: models } = useResource(browseQueries.models());
  return (
    <div>
      <h1>Export / import</h1>
      <section className="panel">
        <h2>Export</h2>
        <p>
          <a className="button" href={exportPaths.project()} download data-testid="export-project">
            Download project (labels with history, families, circuits)
          </a>
        </p>
        <table className="layers">
          <tbody>
            {models?.map((m) => (
              <tr key={m.slug}>
                <td>{m.name}</td>
                <td>
                  <a href={exportPaths.labels(m.slug, "csv")} download>
                    labels CSV
                  </a>{" "}
                  ·{" "}
                  <a href={exportPaths.labels(m.slug, "json")} download>
                    labels JSON
                  </a>{" "}
                  · <Link to={`/agreement/${encodeURIComponent(m.slug)}`}>agreement per layer</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">
          Circuits are exported from their page (graph JSON for Neuronpedia, networkx node-link, GraphML, HTML report). From the command line:{" "}
          <code>circuitscope export project -o project.json</code>.
        </p>
      </section>
      <ImportProject admin={me?.user?.role === "admin"} />
      {canWrite(me) && <ImportCircuit />}
    </div>
  );
}

function ImportProject({ admin }: { admin: boolean }) {
  const [msg, setMsg] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [allowMissing, setAllowMissing] = useState(false);
  const onFile = async (f: File | undefined) => {
    if (!f) return;
    setMsg(null);
    setErr(null);
    try {
      const r = await annotateCalls.importProject(await f.text(), allowMissing);
      afterWrite();
      setMsg(
        `Imported ${r.labels} labels, ${r.families} families, ${r.circuits} circuits (${r.users_created} new users).` +
          (r.warnings.length ? ` Warnings: ${r.warnings.join("; ")}` : ""),
      );
    } catch (e) {
      setErr(errorText(e));
    }
  };
  return (
    <section className="panel">
      <h2>Import a project</h2>
      {admin ? (
        <>
          <p className="muted small">
            All or nothing: the file is checked completely first; the first problem is reported and nothing is written. The models it refers to
            must be registered and computed here (same slug, layer names and unit indices).
          </p>
          <label className="small">
            <input type="checkbox" checked={allowMissing} onChange={(e) => setAllowMissing(e.target.checked)} /> keep annotations of units this
            database lacks (detached)
          </label>
          <p>
            <input type="file" accept="application/json,.json" aria-label="project file" onChange={(e) => onFile(e.target.files?.[0])} />
          </p>
        </>
      ) : (
        <p className="muted">Importing a project needs the admin role.</p>
      )}
      {msg && <p className="notice" data-testid="import-result">{msg}</p>}
      {err && (
        <div className="error-box" role="alert" data-testid="import-error">
          {err}
        </div>
      )}
    </section>
  );
}

function ImportCircuit() {
  const [done, setDone] = useState<Circuit | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const onFile = async (f: File | undefined) => {
    if (!f) return;
    setErr(null);
    setDone(null);
    try {
      setDone(await annotateCalls.importCircuit(await f.text()));
    } catch (e) {
      setErr(errorText(e));
    }
  };
  return (
    <section className="panel">
      <h2>Import a circuit (attribution-graph JSON)</h2>
      <p>
        <input type="file" accept="application/json,.json" aria-label="graph file" onChange={(e) => onFile(e.target.files?.[0])} />
      </p>
      {done && (
        <p className="notice">
          Created <Link to={`/circuits/${done.id}`}>{done.name}</Link> with {done.nodes.length} units.
        </p>
      )}
      {err && <div className="error-box">{err}</div>}
    </section>
  );
}
