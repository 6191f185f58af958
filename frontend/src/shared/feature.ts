import type { ComponentType } from "react";
import type { RouteObject } from "react-router-dom";

/** What a feature contributes to the app: its pages and its items in the top bar. The app
 * (src/features/registry.ts) lists the features; routes.tsx and the Layout iterate it, so adding a feature
 * touches only its own folder and one line of the registry. */
export interface Feature {
  name: string;
  /** Children of the Layout route: paths like "circuits/:id" or "jobs". */
  routes: RouteObject[];
  /** Top-bar items, in order (a NavLink, or a component with its own state such as a running-jobs count). */
  nav?: ComponentType[];
}
