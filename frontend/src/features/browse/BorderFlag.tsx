import { isBorderPosition } from "./ExampleGrid";
import { type Example } from "./browseApi";

/** [height, width] of a layer's activation map from its output shape ([C, H, W] or [N, C, H, W]). */
export function mapSizeOf(outputShape: number[]): [number, number] | null {
  if (outputShape.length < 3) return null;
  const [h, w] = outputShape.slice(-2);
  return h > 0 && w > 0 ? [h, w] : null;
}

/** Share of positions on the outermost ring of an h×w map: what chance alone would put on the border. */
export function borderShare([h, w]: [number, number]): number {
  if (h <= 2 || w <= 2) return 1;
  return 1 - ((h - 2) * (w - 2)) / (h * w);
}

/** P(X >= k) for X ~ Binomial(n, p). */
function binomialTail(k: number, n: number, p: number): number {
  let total = 0;
  let coef = 1; // C(n, i)
  for (let i = 0; i <= n; i++) {
    if (i > 0) coef = (coef * (n - i + 1)) / i;
    if (i >= k) total += coef * p ** i * (1 - p) ** (n - i);
  }
  return total;
}

export interface BorderVerdict {
  onBorder: number;
  total: number;
  chance: number;
  flagged: boolean;
}

/** Count top examples whose peak sits on the map's border; flag when that is at least half of them and far
 * above chance (binomial tail < 1 %), the signature of a unit that reacts to the zero padding. */
export function borderVerdict(top: Example[], mapSize: [number, number] | null): BorderVerdict | null {
  if (!mapSize || !top.length) return null;
  const chance = borderShare(mapSize);
  if (chance >= 1) return null; // maps of 2×2 or less are all border
  const onBorder = top.filter((ex) => isBorderPosition(ex, mapSize)).length;
  const flagged = onBorder / top.length >= 0.5 && binomialTail(onBorder, top.length, chance) < 0.01;
  return { onBorder, total: top.length, chance, flagged };
}

export function BorderFlag({ top, mapSize }: { top: Example[]; mapSize: [number, number] | null }) {
  const v = borderVerdict(top, mapSize);
  if (!v || !v.flagged) return null;
  return (
    <div className="notice border-flag" role="note" data-testid="border-flag">
      Fires at the image border on {v.onBorder}/{v.total} top examples (border positions are {Math.round(v.chance * 100)}% of the{" "}
      {mapSize![0]}×{mapSize![1]} map) — possibly a padding artefact. Check the heatmaps (h) before trusting the label.
    </div>
  );
}
