// Label evidence: tuning curves on the unit page, evidence beside labels, the blind comparison page.
import type { Feature } from "../../shared/feature";
import "./evidence.css";
import { ComparePage } from "./ComparePage";

export { TuningCurves } from "./TuningCurves";
export { EvidenceLine, LabelEvidencePanel } from "./LabelEvidencePanel";

export const evidenceFeature: Feature = { name: "evidence", routes: [{ path: "compare/:model/:layer/:index", element: <ComparePage /> }] };
