import { useEffect, useState } from "react";
import { PlotlyChart } from "../../shared/PlotlyChart";
import { errorText } from "../../shared/api/client";
import { formatTime } from "../../shared/format";
import { useResource } from "../../shared/useResource";
import { isActive, jobCalls, jobQueries, type Job } from "../jobs/jobsApi";
import { circuitTestCalls, circuitTestQueries, type Circuit } from "./annotateApi";

/** Circuit tests: start one (a queued job, progress + cancel), and show the latest result: verdict,
 * suggested status, random-drop histograms with the circuit's drop marked, sufficiency and minimality
 * bars, earlier tests. Numbers come from /api/circuits/{id}/tests (stored evidence). */

const KINDS = ["zero", "mean", "resample"] as const;
const KIND_COLOR: Record<string, string> = { zero: "#34495e", mean: "#8e44ad", resample: "#16a085" };

interface Necessity { drop: number | null; relative_drop: number | null; z: number | null; p: number | null; random_mean: number | null; random_std: number | null; random_drops: number[] }
interface Sufficiency { preserved: number | null; faithfulness: number | null; z: number | null; p: number | null; random_mean: number | null; random_std: number | null; random_preserved: number[] }
interface KindResult { clean: { max: number; mean: number }; necessity: Necessity; sufficiency: Sufficiency; members: { unit: string; drop: number | null; relative_drop: number | null; sufficiency_loss: number | null }[] }
export interface TestDoc {
  circuit: number;
  version: number;
  targets: string[];
  members: string[];
  images: number;
  random_sets: number;
  seed: number;
  test_images: { selection: string; scanned: number };
  results: Record<string, KindResult>;
  context: Record<string, { images: number; clean: number; drop: number; preserved: number | null }>;
  edges: { source: string; target: string; weight: number; attribution: number | null }[];
  verdict: string;
  suggested_status: string;
}


const pct = (v: number | null | undefined) => (v == null ? "—" : `${(100 * v).toFixed(0)} %`);
const num = (v: number | null | undefined, d = 3) => (v == null ? "—" : v.toPrecision(d));

/** "weight" | "attribution" switch for the graph's edge thickness (shown once a test has attributions). */
export function EdgeStrengthSwitch({ value, onChange, disabled }: { value: "weight" | "attribution"; onChange: (v: "weight" | "attribution") => void; disabled: boolean }) {
  return (
    <span className="seg" title={disabled ? "Run a test of this version to get edge attributions" : "Edge thickness"}>
      <button type="button" className={value === "weight" ? "active" : ""} onClick={() => onChange("weight")}>
        weight
      </button>
      <button type="button" className={value === "attribution" ? "active" : ""} disabled={disabled} onClick={() => onChange("attribution")} data-testid="strength-attribution">
        attribution
      </button>
    </span>
  );
}

function Plot({ data, layout, height = 200, testid }: { data: unknown[]; layout: Record<string, unknown>; height?: number; testid: string }) {
  return <PlotlyChart data={data} layout={{ margin: { l: 44, r: 8, t: 28, b: 34 }, ...layout }} height={height} testid={testid} />;
}

function pLabel(p: number | null, r: number) {
  if (p == null) return "p = ?";
  return p === 0 ? `p < ${(1 / r).toPrecision(2)}` : `p = ${p.toPrecision(2)}`;
}

/** Histogram bins as bar data (the basic plotly bundle has no histogram trace); the range includes ``mark``. */
function bins(values: number[], mark: number | null, n = 30): { x: number[]; y: number[]; width: number[] } {
  const all = values.filter((v) => v != null && Number.isFinite(v));
  const lo = Math.min(...all, mark ?? Infinity);
  const hi = Math.max(...all, mark ?? -Infinity);
  const w = hi > lo ? (hi - lo) / n : 1;
  const y = new Array(n).fill(0);
  for (const v of all) y[Math.min(n - 1, Math.floor((v - lo) / w))] += 1;
  return { x: y.map((_, i) => lo + (i + 0.5) * w), y, width: y.map(() => w * 0.95) };
}

function DropHistogram({ kind, r, n }: { kind: string; r: number; n: Necessity }) {
  const z = n.z == null ? (n.drop ? "∞" : "0") : n.z.toFixed(1);
  return (
    <Plot
      testid={`hist-${kind}`}
      data={[{ type: "bar", ...bins(n.random_drops, n.drop), marker: { color: "#95a5a6" }, name: "random sets", hovertemplate: "drop %{x:.3g}: %{y} sets<extra></extra>" }]}
      layout={{
        title: { text: `${kind}: circuit drop ${num(n.drop)} · z = ${z}, ${pLabel(n.p, r)}`, font: { size: 11 }, x: 0.01, xanchor: "left" },
        xaxis: { title: { text: "drop of the target (spatial max)", font: { size: 10 } } },
        yaxis: { title: { text: "random sets", font: { size: 10 } } },
        shapes: [{ type: "line", x0: n.drop, x1: n.drop, yref: "paper", y0: 0, y1: 1, line: { color: "#c0392b", width: 3 } }],
        annotations: [{ x: n.drop, yref: "paper", y: 1, text: "circuit", showarrow: false, font: { color: "#c0392b" }, xanchor: "left" }],
        showlegend: false,
      }}
    />
  );
}

function SufficiencyBars({ doc }: { doc: TestDoc }) {
  const kinds = Object.keys(doc.results);
  const s = kinds.map((k) => doc.results[k].sufficiency);
  return (
    <Plot
      testid="sufficiency-bars"
      height={190}
      data={[
        { type: "bar", name: "circuit kept alone", x: kinds, y: s.map((v) => v.preserved), marker: { color: "#c0392b" }, hovertemplate: "%{y:.1%}<extra>circuit</extra>" },
        {
          type: "bar",
          name: "random sets kept alone (mean ± sd)",
          x: kinds,
          y: s.map((v) => v.random_mean),
          error_y: { type: "data", array: s.map((v) => v.random_std ?? 0), visible: true },
          marker: { color: "#95a5a6" },
          hovertemplate: "%{y:.1%}<extra>random</extra>",
        },
      ]}
      layout={{
        title: { text: "Sufficiency: target activation preserved when only the set is kept", font: { size: 11 }, x: 0.01, xanchor: "left" },
        yaxis: { tickformat: ".0%" },
        barmode: "group",
        legend: { orientation: "h", y: -0.25 },
      }}
    />
  );
}

function MinimalityBars({ doc }: { doc: TestDoc }) {
  const kinds = Object.keys(doc.results);
  return (
    <Plot
      testid="minimality-bars"
      height={200 + 4 * doc.members.length}
      data={kinds.map((k) => ({
        type: "bar",
        name: k,
        x: doc.members,
        y: doc.results[k].members.map((m) => m.relative_drop),
        marker: { color: KIND_COLOR[k] },
        customdata: doc.results[k].members.map((m) => m.sufficiency_loss),
        hovertemplate: "%{x}: drop %{y:.1%} alone, sufficiency loss %{customdata:.1%}<extra>" + k + "</extra>",
      }))}
      layout={{
        title: { text: "Minimality: the target's drop when each member alone is removed", font: { size: 11 }, x: 0.01, xanchor: "left" },
        yaxis: { tickformat: ".0%" },
        barmode: "group",
        legend: { orientation: "h", y: -0.3 },
      }}
    />
  );
}

export function CircuitTestPanel({
  circuit,
  writable,
  onResult,
  onSetStatus,
}: {
  circuit: Circuit;
  writable: boolean;
  onResult: (doc: TestDoc | null, stale: boolean) => void;
  onSetStatus: (status: string) => void;
}) {
  const cid = circuit.id;
  const latest = useResource(circuitTestQueries.latest(cid), { fresh: true });
  const list = useResource(circuitTestQueries.tests(cid), { fresh: true });
  const jobs = useResource(circuitTestQueries.jobs(cid), { fresh: true });
  const [kinds, setKinds] = useState<string[]>([...KINDS]);
  const [r, setR] = useState(100);
  const [images, setImages] = useState(200);
  const [seed, setSeed] = useState(0);
  const [target, setTarget] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [kindShown, setKindShown] = useState<string>("zero");
  const active = jobs.data?.find((j) => j.status === "queued" || j.status === "running");
  const [watch, setWatch] = useState<number | null>(null);
  const [lastJob, setLastJob] = useState<Job | null>(null);

  // poll while a job of this circuit runs; when it ends, load the new result
  const watched = active?.id ?? watch;
  const watchedJob = useResource(watched != null ? jobQueries.job(watched) : null, {
    fresh: true,
    keepPrevious: false,
    pollMs: (j) => (j && !isActive(j) ? false : 1000),
  });
  useEffect(() => {
    const j = watchedJob.data;
    if (!j) return;
    setLastJob(j);
    if (!isActive(j)) {
      setWatch(null);
      latest.reload();
      list.reload();
    }
    jobs.reload();
  }, [watchedJob.data]); // eslint-disable-line react-hooks/exhaustive-deps

  const doc = latest.data?.results ?? null;
  const stale = !!latest.data?.stale;
  useEffect(() => onResult(doc, stale), [doc, stale]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    latest.reload();
    list.reload();
  }, [circuit.version]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (doc && !doc.results[kindShown]) setKindShown(Object.keys(doc.results)[0]);
  }, [doc, kindShown]);

  const start = async () => {
    setErr(null);
    try {
      const j = await circuitTestCalls.start(cid, { kinds, random_sets: r, images, seed, targets: target ? [target] : null });
      setLastJob(j);
      setWatch(j.id);
      jobs.reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  const cancel = async (id: number) => {
    try {
      setLastJob(await jobCalls.cancel(id));
      jobs.reload();
    } catch (e) {
      setErr(errorText(e));
    }
  };
  const running = active ?? (lastJob && (lastJob.status === "queued" || lastJob.status === "running") ? lastJob : null);
  const deepest = Math.max(...circuit.nodes.map((n) => n.layer_position ?? -1));

  return (
    <section className="panel circuit-test" data-testid="circuit-test-panel">
      <h2>Test this circuit</h2>
      {writable && (
        <div className="test-form">
          <span className="seg" role="group" aria-label="ablation kinds">
            {KINDS.map((k) => (
              <label key={k} className="check">
                <input type="checkbox" checked={kinds.includes(k)} onChange={(e) => setKinds(e.target.checked ? [...kinds, k] : kinds.filter((x) => x !== k))} /> {k}
              </label>
            ))}
          </span>
          <label>
            random sets <input type="number" min={2} max={5000} value={r} onChange={(e) => setR(Number(e.target.value))} style={{ width: "5em" }} aria-label="random sets" />
          </label>
          <label>
            images <input type="number" min={1} max={5000} value={images} onChange={(e) => setImages(Number(e.target.value))} style={{ width: "5em" }} />
          </label>
          <label>
            seed <input type="number" value={seed} onChange={(e) => setSeed(Number(e.target.value))} style={{ width: "4em" }} />
          </label>
          <label>
            target{" "}
            <select value={target} onChange={(e) => setTarget(e.target.value)} aria-label="target">
              <option value="">deepest layer's units</option>
              {circuit.nodes.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.id}
                  {n.layer_position === deepest ? " (default)" : ""}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={start} disabled={!!running || kinds.length === 0} data-testid="run-test">
            {doc ? "Re-run the test" : "Test this circuit"}
          </button>
        </div>
      )}
      {err && <div className="error-box" role="alert">{err}</div>}
      {running && (
        <div className="test-progress" data-testid="test-progress">
          <progress max={Math.max(1, running.total)} value={running.done} /> {running.stage} {running.total > 0 && `${running.done}/${running.total}`}
          {running.eta_seconds != null && <span className="muted"> · about {Math.ceil(running.eta_seconds)} s left</span>}{" "}
          {writable && !running.cancel_requested && (
            <button type="button" className="small" onClick={() => cancel(running.id)}>
              Cancel
            </button>
          )}
          {running.cancel_requested && <span className="muted"> cancelling…</span>}
        </div>
      )}
      {!running && lastJob && lastJob.status === "failed" && <div className="error-box" role="alert">The test failed: {lastJob.error}</div>}
      {!running && lastJob && lastJob.status === "cancelled" && <div className="muted">The test was cancelled; nothing was stored.</div>}
      {!doc && !running && <p className="muted small">Not tested yet. A test ablates the members (zero, mean and resample) on the target's top images and compares with random sets of the same size from the same layers.</p>}
      {doc && latest.data && (
        <div className="test-result">
          {stale && (
            <div className="notice" role="status" data-testid="test-stale">
              Stale: this test is of version {latest.data.circuit_version}; the circuit is now at version {circuit.version}.{" "}
              {writable && (
                <button type="button" className="small" onClick={start} disabled={!!running}>
                  Re-run
                </button>
              )}
            </div>
          )}
          <p className="verdict" data-testid="test-verdict">
            <b>{latest.data.verdict}</b>
          </p>
          <p className="small">
            Suggested status: <b className={`status ${latest.data.suggested_status}`}>{latest.data.suggested_status}</b>{" "}
            <span className="muted">(from the numbers; you decide)</span>{" "}
            {writable && !stale && latest.data.suggested_status !== circuit.status && (
              <button type="button" className="small" onClick={() => onSetStatus(latest.data!.suggested_status)}>
                Set status to {latest.data.suggested_status}
              </button>
            )}
          </p>
          <p className="muted small">
            Target {doc.targets.join(", ")} · members {doc.members.join(", ")} · {doc.test_images.selection} · {doc.random_sets} random sets · seed {doc.seed} ·{" "}
            {latest.data.created_by} {formatTime(latest.data.created_at)} ({latest.data.seconds.toFixed(0)} s)
          </p>
          <table className="test-table small">
            <thead>
              <tr>
                <th>ablation</th>
                <th>drop</th>
                <th>z</th>
                <th>p</th>
                <th>preserved</th>
                <th>faithfulness</th>
                <th>on random images</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(doc.results).map(([k, v]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td>
                    {num(v.necessity.drop)} <span className="muted">({pct(v.necessity.relative_drop)})</span>
                  </td>
                  <td>{v.necessity.z == null ? "∞" : v.necessity.z.toFixed(1)}</td>
                  <td>{pLabel(v.necessity.p, doc.random_sets)}</td>
                  <td>{pct(v.sufficiency.preserved)}</td>
                  <td>{pct(v.sufficiency.faithfulness)}</td>
                  <td className="muted">{doc.context[k] ? `drop ${num(doc.context[k].drop)}, ${pct(doc.context[k].preserved)} kept` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="test-plots">
            <div>
              <span className="seg">
                {Object.keys(doc.results).map((k) => (
                  <button key={k} type="button" className={kindShown === k ? "active" : ""} onClick={() => setKindShown(k)}>
                    {k}
                  </button>
                ))}
              </span>
              {doc.results[kindShown] && <DropHistogram kind={kindShown} r={doc.random_sets} n={doc.results[kindShown].necessity} />}
            </div>
            <SufficiencyBars doc={doc} />
            <MinimalityBars doc={doc} />
          </div>
          {(list.data?.length ?? 0) > 1 && (
            <details className="small">
              <summary>Earlier tests ({(list.data?.length ?? 1) - 1})</summary>
              <ol className="revisions">
                {list.data!.slice(1).map((t) => (
                  <li key={t.id}>
                    v{t.circuit_version} <span className="muted">{formatTime(t.created_at)}</span> {t.created_by} — {t.verdict}
                    {t.stale && <span className="muted"> (stale)</span>}
                  </li>
                ))}
              </ol>
            </details>
          )}
        </div>
      )}
    </section>
  );
}
