import type { RouteObject } from "react-router-dom";
import { NotFoundPage } from "./features/browse/NotFoundPage";
import { features } from "./features/registry";
import { Layout, RouteError } from "./shared/Layout";

/** Every feature's pages are children of one Layout (the top bar), which shows every feature's nav items. */
export const routes: RouteObject[] = [
  {
    path: "/",
    element: <Layout nav={features.flatMap((f) => f.nav ?? [])} />,
    errorElement: <RouteError />,
    children: [...features.flatMap((f) => f.routes), { path: "*", element: <NotFoundPage /> }],
  },
];
