import { StatusBadge } from "../../shared/StatusBadge";
import type { Consensus } from "./annotateApi";

export function ConsensusBadge({ state }: { state: Consensus["state"] }) {
  return <StatusBadge kind="consensus" status={state} />;
}

export function Tags({ tags }: { tags: string[] }) {
  if (!tags.length) return null;
  return (
    <span className="tags">
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
        </span>
      ))}
    </span>
  );
}
