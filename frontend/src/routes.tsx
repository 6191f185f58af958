import type { RouteObject } from "react-router-dom";
import { annotateRoutes } from "./features/annotate";
import { evidenceRoutes } from "./features/evidence";
import { jobsRoutes } from "./features/jobs";
import { Layout, RouteError } from "./shared/Layout";
import { LayerPage } from "./features/browse/LayerPage";
import { ModelPage } from "./features/browse/ModelPage";
import { ModelsPage } from "./features/browse/ModelsPage";
import { NotFoundPage } from "./features/browse/NotFoundPage";
import { UnitPage } from "./features/browse/UnitPage";

/**
 * Every page has a stable, shareable link:
 *   /                                               models and their layers
 *   /models/:model                                  one model
 *   /models/:model/layers/:layer                    the layer grid (layer = dotted module name)
 *   /models/:model/layers/:layer/units/:index       one unit
 * Routes from other features (annotateRoutes, jobsRoutes) are children of the same Layout, so they get
 * the top bar; give them paths like "circuits/:id" or "/jobs".
 */
export const browseRoutes: RouteObject[] = [
  { index: true, element: <ModelsPage /> },
  { path: "models/:model", element: <ModelPage /> },
  { path: "models/:model/layers/:layer", element: <LayerPage /> },
  { path: "models/:model/layers/:layer/units/:index", element: <UnitPage /> },
];

export const routes: RouteObject[] = [
  {
    path: "/",
    element: <Layout />,
    errorElement: <RouteError />,
    children: [...browseRoutes, ...annotateRoutes, ...evidenceRoutes, ...jobsRoutes, { path: "*", element: <NotFoundPage /> }],
  },
];
