/** A weight kernel (kh x kw) as a red (positive) / blue (negative) heatmap, like the Circuits figures. */
export function KernelHeatmap({ kernel, size = 42, scale }: { kernel: number[][] | number[]; size?: number; scale?: number }) {
  const rows: number[][] = Array.isArray(kernel[0]) ? (kernel as number[][]) : [kernel as number[]];
  const h = rows.length;
  const w = Math.max(1, ...rows.map((r) => r.length));
  const max = scale ?? Math.max(1e-12, ...rows.flat().map((v) => Math.abs(v)));
  const cell = size / Math.max(h, w);
  return (
    <svg
      className="kernel"
      width={cell * w}
      height={cell * h}
      viewBox={`0 0 ${w} ${h}`}
      shapeRendering="crispEdges"
      role="img"
      aria-label={`${h}x${w} weight kernel`}
    >
      {rows.map((r, y) =>
        r.map((v, x) => <rect key={`${y}-${x}`} x={x} y={y} width={1} height={1} fill={weightColor(v / max)} />),
      )}
    </svg>
  );
}

/** -1..1 -> blue..white..red */
export function weightColor(t: number): string {
  const a = Math.max(-1, Math.min(1, t));
  const k = Math.round(255 * (1 - Math.abs(a)));
  return a >= 0 ? `rgb(255,${k},${k})` : `rgb(${k},${k},255)`;
}
