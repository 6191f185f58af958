// Concept selectivity: generated types and the layer query.
import { $api, type Schemas } from "../../shared/api/client";

export type ConceptScore = Schemas["ConceptScore"];
export type ConceptStatus = Schemas["ConceptStatus"];
export type SuggestedLabel = Schemas["SuggestionOut"];

/** The concept fields of the unit JSON. */
export interface UnitConcepts {
  concepts?: ConceptScore[] | null;
  concept_status?: ConceptStatus | null;
  suggested_label?: SuggestedLabel | null;
}

export type LayerConcepts = Schemas["LayerConceptsOut"];

export const conceptQueries = {
  layer: (model: string, layer: string, threshold: number) =>
    $api.queryOptions("get", "/api/models/{model}/layers/{layer}/concepts", { params: { path: { model, layer }, query: { threshold } } }),
};

const NAMED: Record<string, string> = {
  red: "#d72323", orange: "#f08719", yellow: "#d9c21f", green: "#28a53c", cyan: "#28c3d7", blue: "#234bd7",
  purple: "#7837be", magenta: "#d72dc3", pink: "#f5a0be", brown: "#7d4b23", white: "#d8d8d8", gray: "#808080",
  black: "#121212",
};
const CATEGORICAL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}

/** A colour that says what the concept is: the named colour itself, orientation as hue around the circle. */
export function conceptColour(concept: string): string {
  const [kind, value = ""] = concept.split("=", 2);
  if (kind === "colour" && NAMED[value]) return NAMED[value];
  if (kind === "orientation") return `hsl(${(2 * Number(value)) % 360}, 70%, 45%)`;
  if (kind === "curve_direction") return `hsl(${Number(value) % 360}, 55%, 35%)`;
  return CATEGORICAL[hash(concept) % CATEGORICAL.length];
}
