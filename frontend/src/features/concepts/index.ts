// Concept selectivity in the UI: the unit page's concept panel, the layer grid's colouring and summary, search filters.
import "./concepts.css";

export { ConceptPanel } from "./ConceptPanel";
export { ConceptBadge, ConceptSearchFilters } from "./ConceptSearchFilters";
export { ConceptLayerTools, LayerConceptChart, useLayerConcepts } from "./LayerConcepts";
export type { ConceptScore, ConceptStatus, SuggestedLabel, UnitConcepts } from "./conceptApi";
