import { useState } from "react";
import { weightColor } from "./KernelHeatmap";
import { Lightbox } from "../../shared/Lightbox";
import { UnitThumb } from "../../shared/UnitThumb";
import { fmt } from "../../shared/format";
import { type ConnectionOut } from "./browseApi";

const INITIAL_CONNECTIONS = 12;

function rowsOf(kernel: number[][] | number[]): number[][] {
  return Array.isArray(kernel[0]) ? (kernel as number[][]) : [kernel as number[]];
}

/** A weight kernel as a red (+) / blue (−) grid; every cell says its value on hover. */
export function KernelGrid({ kernel, size, scale, numbers = false }: { kernel: number[][] | number[]; size: number; scale: number; numbers?: boolean }) {
  const rows = rowsOf(kernel);
  const h = rows.length;
  const w = Math.max(1, ...rows.map((r) => r.length));
  const cell = size / Math.max(h, w);
  return (
    <svg className="kernel" width={cell * w} height={cell * h} viewBox={`0 0 ${w} ${h}`} shapeRendering="crispEdges" role="img" aria-label={`${h}x${w} weight kernel`}>
      {rows.map((r, y) =>
        r.map((v, x) => (
          <g key={`${y}-${x}`}>
            <rect x={x} y={y} width={1} height={1} fill={weightColor(v / scale)} data-value={v}>
              <title>{`w[${y},${x}] = ${v.toPrecision(3)}`}</title>
            </rect>
            {numbers && (
              <text x={x + 0.5} y={y + 0.56} fontSize={0.24} textAnchor="middle" dominantBaseline="middle" fill={Math.abs(v / scale) > 0.6 ? "#fff" : "#222"} pointerEvents="none">
                {v.toPrecision(2)}
              </text>
            )}
          </g>
        )),
      )}
    </svg>
  );
}

/** Strongest inputs or outputs: the other unit (its render and consensus label), the kernel (hover for values,
 * click to enlarge with the numbers written in), signed strength, L2 and share of the strongest. */
export function ConnectionList({ title, rows, empty, testid, model }: { title: string; rows: ConnectionOut[]; empty: string; testid: string; model: string }) {
  const [all, setAll] = useState(false);
  const [open, setOpen] = useState<ConnectionOut | null>(null);
  const shown = all ? rows : rows.slice(0, INITIAL_CONNECTIONS);
  const scale = Math.max(1e-12, ...rows.flatMap((r) => (r.kernel as unknown[]).flat(2) as number[]).map((v) => Math.abs(v)));
  return (
    <div className="connections" data-testid={testid}>
      <h3>
        {title} <span className="muted small">{rows.length ? `${rows.length} strongest` : ""}</span>
      </h3>
      {rows.length === 0 ? (
        <p className="muted small">{empty}</p>
      ) : (
        <>
          <div className="conn-grid">
            {shown.map((c) => (
              <div key={c.unit.id} className={`conn ${c.relative < 0.3 ? "weak" : ""}`} data-conn-layer={c.unit.layer} data-conn-index={c.unit.index}>
                <UnitThumb model={c.unit.model} layer={c.unit.layer} index={c.unit.index} image={c.unit.image} size={64} />
                <div className="conn-info">
                  <span className="conn-layer mono" title={`${c.unit.model} / ${c.unit.layer}`}>
                    {c.unit.model !== model ? `${c.unit.model}/` : ""}
                    {c.unit.layer}
                  </span>
                  {c.unit.label ? (
                    <span className="conn-label" title={`consensus label: ${c.unit.label}`} data-testid="conn-label">
                      {c.unit.label}
                    </span>
                  ) : (
                    <span className="conn-label muted">unlabelled</span>
                  )}
                  <span className="conn-weights">
                    <button type="button" className="kernel-button" title="enlarge the kernel (values on hover)" onClick={() => setOpen(c)} aria-label={`enlarge the kernel of ${c.unit.layer}:${c.unit.index}`}>
                      <KernelGrid kernel={c.kernel} size={56} scale={scale} />
                    </button>
                    <span className="conn-nums">
                      <span className={c.strength >= 0 ? "pos" : "neg"} title="signed strength: sum of the kernel">
                        {c.strength >= 0 ? "+" : "−"}
                        {fmt(Math.abs(c.strength), 3)}
                      </span>
                      <span className="muted small" title="L2 norm of the kernel, and its share of the strongest">
                        ‖w‖ {fmt(c.l2, 2)}
                      </span>
                      <span className="muted small">{Math.round(c.relative * 100)}%</span>
                    </span>
                  </span>
                  {c.kind !== "direct" && <span className="badge">{c.kind}</span>}
                </div>
              </div>
            ))}
          </div>
          {rows.length > INITIAL_CONNECTIONS && (
            <button type="button" className="small" onClick={() => setAll((a) => !a)}>
              {all ? "show fewer" : `show all ${rows.length}`}
            </button>
          )}
        </>
      )}
      {open && (
        <Lightbox title={`${title === "Inputs" ? "from" : "to"} ${open.unit.layer}:${open.unit.index}${open.unit.label ? ` — ${open.unit.label}` : ""} · ${open.kind} kernel`} onClose={() => setOpen(null)}>
          <div className="kernel-large" data-testid="kernel-large">
            <KernelGrid kernel={open.kernel} size={360} scale={scale} numbers />
            <p className="small muted">
              sum {fmt(open.strength, 4)} · ‖w‖ {fmt(open.l2, 4)} · colour scale ±{fmt(scale, 3)} (the strongest weight among these {rows.length} kernels)
            </p>
          </div>
        </Lightbox>
      )}
    </div>
  );
}
