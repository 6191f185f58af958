// The annotation feature: sign-in, labels on the unit page, queue, search, families, circuits, export/import.
import type { Feature } from "../../shared/feature";
import "./annotate.css";
import { AccountPage } from "./AccountPage";
import { AgreementPage } from "./AgreementPage";
import { CircuitPage, CircuitsPage } from "./CircuitPage";
import { ExchangePage } from "./ExchangePage";
import { FamiliesPage } from "./FamiliesPage";
import { LoginPage } from "./LoginPage";
import { NavExtras } from "./NavExtras";
import { QueueIndexPage, QueuePage } from "./QueuePage";
import { SearchPage } from "./SearchPage";

export { UnitAnnotationPanel } from "./UnitAnnotationPanel";
export { FamilyLegend, useFamilyMap } from "./familyGrid";

export const annotateFeature: Feature = {
  name: "annotate",
  nav: [NavExtras],
  routes: [
  { path: "login", element: <LoginPage /> },
  { path: "account", element: <AccountPage /> },
  { path: "search", element: <SearchPage /> },
  { path: "queue", element: <QueueIndexPage /> },
  { path: "queue/:model/:layer", element: <QueuePage /> },
  { path: "circuits", element: <CircuitsPage /> },
  { path: "circuits/:id", element: <CircuitPage /> },
  { path: "families", element: <FamiliesPage /> },
  { path: "agreement/:model", element: <AgreementPage /> },
  { path: "exchange", element: <ExchangePage /> },
  ],
};
