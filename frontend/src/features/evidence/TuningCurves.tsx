import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { useResource } from "../../shared/useResource";
import { canWrite, useMe } from "../annotate/annotateApi";
import { ErrorBox } from "../../shared/ErrorBox";
import { Loading } from "../../shared/Loading";
import { evidenceCalls, evidenceQueries, TUNING_PARAMS, type TuningParam } from "./evidenceApi";
import { Plot } from "./LinePlot";

const AXIS: Record<TuningParam, string> = {
  orientation: "orientation (deg, counter-clockwise from horizontal)",
  curvature: "curvature (1 / radius in image widths)",
  hue: "hue of the stimulus (deg)",
  frequency: "spatial frequency (cycles per image width)",
  rotation: "rotation of the top dataset example (deg)",
};
const UNIT: Record<TuningParam, string> = { orientation: "°", curvature: "", hue: "°", frequency: " cycles/image", rotation: "°" };
const AUTO_KEY = "cs.tuning";

function describe(s: Record<string, unknown>): string {
  const parts: string[] = [];
  if (s.kind) parts.push(String(s.kind) === "dataset" ? `top example ${String(s.example ?? "")}` : `${String(s.kind)} stimuli`);
  if (s.colours) parts.push(String(s.colours));
  if (typeof s.frequency === "number" && s.kind !== "edge" && s.kind !== "field" && s.kind !== "dataset") parts.push(`${s.frequency} cycles/image (preferred)`);
  if (typeof s.curvature === "number") parts.push(`curvature ${s.curvature}`);
  if (typeof s.orientation === "number") parts.push(`at ${s.orientation}°`);
  else if (typeof s.orientation === "string") parts.push(s.orientation);
  return parts.join(" · ");
}

/** Tuning curves from synthetic stimuli (Curve Detectors' check), computed on demand, preferred value marked. */
export function TuningCurves({ model, layer, index }: { model: string; layer: string; index: number }) {
  const writer = canWrite(useMe().me);
  const [param, setParam] = useState<TuningParam>("orientation");
  const [enabled, setEnabled] = useState(() => localStorage.getItem(AUTO_KEY) === "1");
  const { data, error, loading } = useResource(enabled ? evidenceQueries.tuning(model, layer, index, param) : null);
  const [job, setJob] = useState<{ id?: number; error?: unknown; busy?: boolean }>({});
  const enable = () => {
    localStorage.setItem(AUTO_KEY, "1");
    setEnabled(true);
  };
  const queueLayer = () => {
    setJob({ busy: true });
    evidenceCalls.tuneLayer(model, layer)
      .then((j) => setJob({ id: j.id }))
      .catch((e) => setJob({ error: e }));
  };
  const series = useMemo(() => {
    if (!data) return [];
    const color = data.param === "hue" ? data.values.map((h) => `hsl(${h}, 100%, 45%)`) : "#1a5fb4";
    return [{ x: data.values, y: data.responses, name: "response", color }];
  }, [data]);
  const unit = UNIT[param];
  return (
    <section className="panel tuning" aria-label="tuning curves" data-testid="tuning-curves">
      <div className="panel-head">
        <h2>Tuning curves</h2>
        <div className="seg" role="group" aria-label="swept parameter">
          {TUNING_PARAMS.map((p) => (
            <button key={p} type="button" className={p === param ? "active" : ""} onClick={() => { setParam(p); enable(); }}>
              {p}
            </button>
          ))}
        </div>
      </div>
      {!enabled ? (
        <p className="small">
          <button type="button" onClick={enable} data-testid="tuning-start">Show tuning curves</button>{" "}
          <span className="muted">runs the model on a few hundred synthetic stimuli from the concept generator (about a second)</span>
        </p>
      ) : error ? (
        <ErrorBox error={error} title="No tuning curve" />
      ) : loading || !data ? (
        <Loading what={`${param} tuning`} />
      ) : (
        <>
          <Plot
            series={series}
            xTitle={AXIS[data.param as TuningParam] ?? data.param}
            yTitle="response (spatial max)"
            mark={data.preferred}
            markText={data.preferred === null ? undefined : data.depth !== null && data.depth < 0.1 ? `max ${data.preferred}${unit} (barely tuned)` : `preferred ${data.preferred}${unit}`}
            testid="tuning-plot"
            fromZero
          />
          <p className="small">
            {data.flat ? (
              <b>Flat: the unit answers these stimuli alike, so there is no preferred value.</b>
            ) : (
              <>
                Preferred <b data-testid="tuning-preferred">{data.preferred}{unit}</b> (response {data.preferred_response?.toFixed(3)}
                {data.top_activation !== null ? `; its top dataset example reaches ${data.top_activation.toFixed(3)}` : ""}).{" "}
                {data.depth !== null && data.depth < 0.1 ? (
                  <b className="ev-reasons" data-testid="tuning-weak">Barely tuned: the response changes by only {(100 * data.depth).toFixed(1)} % over the sweep.</b>
                ) : data.depth !== null ? (
                  <span>Tuning depth {Math.round(100 * data.depth)} % (max − min over max).</span>
                ) : null}
              </>
            )}{" "}
            <span className="muted">
              {describe(data.stimulus)}; blank gray image {data.blank_response.toFixed(3)}.
              {data.precomputed ? ` From the layer job of ${data.precomputed}.` : data.seconds !== undefined ? ` Computed in ${data.seconds.toFixed(2)} s.` : ""}
            </span>
          </p>
          <details className="small muted">
            <summary>Conventions</summary>
            <p>{data.param}: {data.convention}.</p>
            <p>Measure: {data.measure}. The stimulus kind and colours are the unit's preferred ones, found by a probe over gratings, stripes, lines, edges, curves and colour fields in eight colour schemes.</p>
          </details>
        </>
      )}
      {writer && (
        <p className="small muted">
          Whole layer:{" "}
          <button type="button" onClick={queueLayer} disabled={job.busy} data-testid="tuning-layer-job">
            Compute every unit's curves as a job
          </button>{" "}
          {job.id !== undefined && <Link to={`/jobs/${job.id}`}>job {job.id} queued</Link>}
          {job.error !== undefined && <ErrorBox error={job.error} />}
        </p>
      )}
    </section>
  );
}
