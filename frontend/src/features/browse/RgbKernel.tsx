import { useState } from "react";
import { KernelHeatmap } from "./KernelHeatmap";
import type { InputKernel } from "./browseApi";
import { fmt } from "../../shared/format";

const CHANNEL_NAMES = ["R", "G", "B"];

/** Signed weight -> 0..255 around grey: 0 is mid-grey, +max full intensity, −max none (shared scale over
 * the channels so the hue is the kernel's colour preference). */
function level(v: number, max: number): number {
  return Math.round(128 + 127 * Math.max(-1, Math.min(1, v / max)));
}

/** A first-layer unit's weights on the image channels, drawn as a small colour image (what colour and
 * pattern it responds to), with each channel alone in red/blue beside it; values on hover; click to enlarge. */
export function RgbKernel({ kernel: raw }: { kernel: InputKernel }) {
  // the API sends null for a non-finite weight: drawn as 0 (grey)
  const kernel = { ...raw, values: raw.values.map((ch) => ch.map((row) => row.map((v) => v ?? 0))) };
  const [h, w] = kernel.size;
  const [big, setBig] = useState(false);
  const [at, setAt] = useState<[number, number] | null>(null);
  const max = Math.max(1e-12, ...kernel.values.flat(2).map((v) => Math.abs(v)));
  const side = big ? 240 : 96;
  const cell = side / Math.max(h, w);
  const rgb = (y: number, x: number): string => {
    const c = kernel.values.map((ch) => level(ch[y][x], max));
    return kernel.channels >= 3 ? `rgb(${c[0]},${c[1]},${c[2]})` : `rgb(${c[0]},${c[0]},${c[0]})`;
  };
  const values = (y: number, x: number): string =>
    kernel.values.map((ch, i) => `${CHANNEL_NAMES[i] ?? `c${i}`} ${ch[y][x] >= 0 ? "+" : ""}${fmt(ch[y][x], 3)}`).join(" · ");
  return (
    <div className="rgb-kernel" data-testid="rgb-kernel">
      <h3>
        Weights on the image <span className="muted small">{kernel.channels >= 3 ? "RGB" : `${kernel.channels} channel`} kernel, {h}×{w}; grey = 0, scale ±{fmt(max, 3)}</span>
      </h3>
      <div className="rgb-kernel-row">
        <button type="button" className="rgb-kernel-main" onClick={() => setBig((b) => !b)} title={big ? "click to shrink" : "click to enlarge"} aria-label={big ? "shrink the kernel" : "enlarge the kernel"}>
          <svg width={cell * w} height={cell * h} viewBox={`0 0 ${w} ${h}`} shapeRendering="crispEdges" role="img" aria-label={`${h}x${w} colour kernel`}>
            {Array.from({ length: h }, (_, y) =>
              Array.from({ length: w }, (_, x) => (
                <rect key={`${y}-${x}`} x={x} y={y} width={1} height={1} fill={rgb(y, x)} data-y={y} data-x={x} onMouseEnter={() => setAt([y, x])} onMouseLeave={() => setAt(null)}>
                  <title>{`(y ${y}, x ${x}) ${values(y, x)}`}</title>
                </rect>
              )),
            )}
          </svg>
        </button>
        {kernel.values.map((ch, i) => (
          <figure key={i} className="rgb-kernel-channel">
            <KernelHeatmap kernel={ch} size={big ? 120 : 48} scale={max} />
            <figcaption className="small muted">{CHANNEL_NAMES[i] ?? `c${i}`}</figcaption>
          </figure>
        ))}
      </div>
      <p className="small" data-testid="rgb-kernel-readout">
        {at ? `(y ${at[0]}, x ${at[1]}) ${values(at[0], at[1])}` : <span className="muted">hover a pixel for its weights · red/blue: each channel alone (red +, blue −)</span>}
      </p>
    </div>
  );
}
