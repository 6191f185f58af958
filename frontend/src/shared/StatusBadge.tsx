import type { LayerStatus, StageProgress } from "./api/client";

const TEXT: Record<LayerStatus, string> = {
  done: "computed",
  running: "computing",
  partial: "partly computed",
  not_computed: "not computed",
};

const STAGES = ["examples", "featurevis", "weights"];
const STAGE_TEXT: Record<string, string> = { examples: "examples", featurevis: "feature vis", weights: "weights" };

/** A layer's (or model's) status in words. With `stages`, a layer whose runs skipped a stage says which
 * stages it has ("examples, weights computed") instead of a bare "computed". */
export function StatusBadge({ status, progress, stages }: { status: LayerStatus; progress?: number; stages?: Record<string, StageProgress> }) {
  const pct = progress !== undefined && status !== "done" && status !== "not_computed" ? ` ${Math.round(progress * 100)}%` : "";
  const done = stages ? STAGES.filter((s) => stages[s]?.status === "done") : STAGES;
  const text = status === "done" && done.length < STAGES.length ? `${done.map((s) => STAGE_TEXT[s]).join(", ")} computed` : TEXT[status] ?? status;
  return (
    <span className={`badge status-${status}`} title={stages ? STAGES.map((s) => `${STAGE_TEXT[s]}: ${stages[s]?.status ?? "not run"}`).join(" · ") : undefined}>
      {text}
      {pct}
    </span>
  );
}

export function ProgressBar({ value }: { value: number }) {
  const pct = Math.max(0, Math.min(1, value)) * 100;
  return (
    <span className="progress" title={`${pct.toFixed(0)}%`}>
      <span style={{ width: `${pct}%` }} />
    </span>
  );
}

export function StageList({ stages }: { stages: Record<string, StageProgress> }) {
  if (!STAGES.some((s) => s in stages)) return <span className="muted">no stage started</span>;
  // every stage gets a chip, so a stage no run asked for reads "not run" rather than being silently absent
  return (
    <span className="stages">
      {STAGES.map((s) =>
        s in stages ? (
          <span key={s} className={`stage stage-${stages[s].status}`} title={`${s}: ${stages[s].status}, ${stages[s].units_done}/${stages[s].units_total} units`}>
            {s} {stages[s].status === "done" ? "✓" : `${stages[s].units_done}/${stages[s].units_total}`}
          </span>
        ) : (
          <span key={s} className="stage stage-not-run" title={`${s}: not run for this layer (the runs did not ask for it, or the first layer has no input weights)`}>
            {s} –
          </span>
        ),
      )}
    </span>
  );
}
