import { ExampleGrid } from "./ExampleGrid";
import { type Example } from "./browseApi";

/** Examples across the distribution: a few images per decile of the per-image spatial max (decile 0 = the
 * weakest tenth of the dataset, 9 = the strongest), from a seeded uniform sample of the dataset. They show the
 * unit's typical response, which top and bottom examples (the two tails) hide. */
export function QuantileExamples({
  rows,
  heatmap,
  inputSize,
  mapSize,
}: {
  rows: Example[];
  heatmap: boolean;
  inputSize: number;
  mapSize?: [number, number] | null;
}) {
  const byDecile = new Map<number, Example[]>();
  for (const ex of rows) {
    const d = ex.decile ?? 0;
    byDecile.set(d, [...(byDecile.get(d) ?? []), ex]);
  }
  const deciles = [...byDecile.keys()].sort((a, b) => b - a); // strongest first, like the top examples above
  return (
    <div className="quantile-examples" data-testid="quantile-examples">
      <h3>
        Across the distribution{" "}
        <span className="muted small">
          {rows.length
            ? `${rows.length} images from a uniform random sample of the dataset, grouped by decile of the per-image spatial max (the sample's deciles)`
            : ""}
        </span>
      </h3>
      {rows.length === 0 ? (
        <p className="muted small">No examples across the distribution stored (computed before they were recorded: recompute the layer's examples).</p>
      ) : (
        deciles.map((d) => (
          <div className="decile-row" key={d} data-decile={d}>
            <ExampleGrid
              title={`${d * 10}–${(d + 1) * 10} %`}
              rows={byDecile.get(d)!}
              heatmap={heatmap}
              kind="quantile"
              inputSize={inputSize}
              mapSize={mapSize}
              compact
            />
          </div>
        ))
      )}
    </div>
  );
}
