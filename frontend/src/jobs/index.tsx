// Placeholder owned by the jobs work: it overwrites this file with job pages.
import type { RouteObject } from "react-router-dom";

/** Extra pages (job list, job detail) added to the router next to the browse pages. */
export const jobsRoutes: RouteObject[] = [];

/** One item for the top navigation bar. */
export function JobsNavItem() {
  return null;
}
