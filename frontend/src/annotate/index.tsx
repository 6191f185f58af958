// Placeholder owned by the annotation work: it overwrites this file with real routes and panels.
import type { RouteObject } from "react-router-dom";

/** Extra pages (label editing, circuits, search) added to the router next to the browse pages. */
export const annotateRoutes: RouteObject[] = [];

/** Rendered in its own section of the unit page. */
export function UnitAnnotationPanel(_props: { modelSlug: string; layerName: string; unitIndex: number; unitId: number }) {
  return null;
}

/** Items for the top navigation bar (sign-in, search, circuits). */
export function NavExtras() {
  return null;
}
