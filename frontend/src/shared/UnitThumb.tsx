import type { ReactNode } from "react";
import { Link } from "react-router-dom";
import { pagePaths } from "./paths";

export interface UnitThumbProps {
  model: string;
  layer: string;
  index: number;
  image: string | null | undefined;
  label?: string | null;
  size?: number;
  /** Show "layer:index" instead of just the index (units from other layers). */
  showLayer?: boolean;
  /** Extra content under the caption (e.g. a strength). */
  extra?: ReactNode;
  lazy?: boolean;
}

/** A unit's channel feature visualization (or a placeholder), captioned, linking to the unit page. */
export function UnitThumb({ model, layer, index, image, label, size = 96, showLayer, extra, lazy = true }: UnitThumbProps) {
  return (
    <Link
      className="unit-thumb"
      to={pagePaths.unit(model, layer, index)}
      style={{ width: size }}
      title={`${layer} unit ${index}${label ? ` — ${label}` : ""}`}
      data-unit-index={index}
      data-layer={layer}
    >
      <UnitImage image={image} size={size} lazy={lazy} alt={`${layer} unit ${index} channel feature visualization`} />
      <span className="caption">
        <span className="idx">{showLayer ? `${layer}:${index}` : index}</span>
        {label && <span className="label-text">{label}</span>}
      </span>
      {extra}
    </Link>
  );
}

/** Fixed-size image cell: lazy-loaded render, or a placeholder box when there is none. */
export function UnitImage({ image, size, lazy = true, alt }: { image: string | null | undefined; size: number; lazy?: boolean; alt: string }) {
  if (!image)
    return (
      <span className="placeholder" style={{ width: size, height: size }} title="no feature visualization yet">
        no render
      </span>
    );
  return (
    <img src={image} width={size} height={size} loading={lazy ? "lazy" : "eager"} decoding="async" alt={alt} draggable={false} />
  );
}
