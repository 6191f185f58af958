// The app's features, in top-bar order. Each feature's index exports a `Feature` (its routes and nav items);
// routes.tsx and the Layout iterate this list. Features without pages (concepts, fidelity) are panels
// that other features' pages import, and are not listed.
import type { Feature } from "../shared/feature";
import { annotateFeature } from "./annotate";
import { browseFeature } from "./browse";
import { evidenceFeature } from "./evidence";
import { jobsFeature } from "./jobs";

export const features: Feature[] = [browseFeature, jobsFeature, annotateFeature, evidenceFeature];
