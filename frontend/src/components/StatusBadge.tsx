import type { LayerStatus, StageProgress } from "../api";

const TEXT: Record<LayerStatus, string> = {
  done: "computed",
  running: "computing",
  partial: "partly computed",
  not_computed: "not computed",
};

export function StatusBadge({ status, progress }: { status: LayerStatus; progress?: number }) {
  const pct = progress !== undefined && status !== "done" && status !== "not_computed" ? ` ${Math.round(progress * 100)}%` : "";
  return <span className={`badge status-${status}`}>{TEXT[status] ?? status}{pct}</span>;
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
  const names = ["examples", "featurevis", "weights"].filter((s) => s in stages);
  if (!names.length) return <span className="muted">no stage started</span>;
  return (
    <span className="stages">
      {names.map((s) => (
        <span key={s} className={`stage stage-${stages[s].status}`} title={`${s}: ${stages[s].status}, ${stages[s].units_done}/${stages[s].units_total} units`}>
          {s} {stages[s].status === "done" ? "✓" : `${stages[s].units_done}/${stages[s].units_total}`}
        </span>
      ))}
    </span>
  );
}
