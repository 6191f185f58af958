import type { Consensus, LabelStatus } from "./annotateApi";

export function StatusBadge({ status }: { status: LabelStatus | string }) {
  return <span className={`badge label-${status}`}>{status}</span>;
}

export function ConsensusBadge({ state }: { state: Consensus["state"] }) {
  const text = { single: "one annotator", agreed: "agreed", majority: "majority", disputed: "disputed", "agreed-but-flagged": "agreed, flagged" }[state];
  return <span className={`badge consensus-${state}`}>{text}</span>;
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

/** A unit picture from the image store, or a placeholder box. */
export function Thumb({ src, size = 64, alt }: { src: string | null | undefined; size?: number; alt: string }) {
  if (!src)
    return (
      <span className="placeholder" style={{ width: size, height: size }}>
        no render
      </span>
    );
  return <img src={src} width={size} height={size} alt={alt} loading="lazy" />;
}
