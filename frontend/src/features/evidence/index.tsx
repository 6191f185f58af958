// Label evidence: tuning curves on the unit page, evidence beside labels, the blind comparison page.
import type { RouteObject } from "react-router-dom";
import "./evidence.css";
import { ComparePage } from "../annotate/ComparePage";

export { TuningCurves } from "./TuningCurves";
export { EvidenceLine, LabelEvidencePanel } from "./LabelEvidencePanel";

export const evidenceRoutes: RouteObject[] = [{ path: "compare/:model/:layer/:index", element: <ComparePage /> }];
