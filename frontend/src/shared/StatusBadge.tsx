import type { Schemas } from "./api/client";

type StageProgress = Schemas["StageProgress"];

/** What a status belongs to: its words and its colour class (styles.css, annotate.css, jobs.css). */
export type StatusKind = "layer" | "job" | "label" | "consensus" | "circuit";

const CLASS: Record<StatusKind, (status: string) => string> = {
  layer: (s) => `status-${s}`,
  job: (s) => `job-status job-${s}`,
  label: (s) => `label-${s}`,
  consensus: (s) => `consensus-${s}`,
  circuit: (s) => `circuit-${s}`,
};

const WORDS: Partial<Record<StatusKind, Record<string, string>>> = {
  layer: { done: "computed", running: "computing", partial: "partly computed", not_computed: "not computed" },
  consensus: { single: "one annotator", agreed: "agreed", majority: "majority", disputed: "disputed", "agreed-but-flagged": "agreed, flagged" },
};

const STAGES = ["examples", "featurevis", "weights"];
const STAGE_TEXT: Record<string, string> = { examples: "examples", featurevis: "feature vis", weights: "weights" };

export interface StatusBadgeProps {
  kind: StatusKind;
  status: string;
  /** Words instead of the status's usual ones (a running job asked to cancel: "cancelling"). */
  text?: string;
  /** Layers and models: the share done, shown while partial or running. */
  progress?: number;
  /** Layers: a layer whose runs skipped a stage says which stages it has ("examples, weights computed")
   * instead of a bare "computed"; each stage's state on hover. */
  stages?: Record<string, StageProgress>;
}

/** The one status badge: layers and models, jobs, labels, consensus, circuits. */
export function StatusBadge({ kind, status, text, progress, stages }: StatusBadgeProps) {
  const pct = progress !== undefined && status !== "done" && status !== "not_computed" ? ` ${Math.round(progress * 100)}%` : "";
  const done = stages ? STAGES.filter((s) => stages[s]?.status === "done") : STAGES;
  const words =
    text ?? (kind === "layer" && status === "done" && done.length < STAGES.length ? `${done.map((s) => STAGE_TEXT[s]).join(", ")} computed` : WORDS[kind]?.[status] ?? status);
  return (
    <span className={`badge ${CLASS[kind](status)}`} title={stages ? STAGES.map((s) => `${STAGE_TEXT[s]}: ${stages[s]?.status ?? "not run"}`).join(" · ") : undefined}>
      {words}
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
