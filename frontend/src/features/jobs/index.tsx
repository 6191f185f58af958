// Jobs: start computations from the browser and watch them (routes and the top-bar item).
import type { Feature } from "../../shared/feature";
import { NavLink, useLocation } from "react-router-dom";
import { JobPage } from "./JobPage";
import { JobsPage } from "./JobsPage";
import { useResource } from "../../shared/useResource";
import { NewJobPage } from "./NewJobPage";
import { isActive, jobPaths, jobQueries } from "./jobsApi";
import "./jobs.css";

/**
 *   /jobs            every computation, live
 *   /jobs/:id        one computation: progress, cancel, error or summary, its layers as they finish
 *   /compute/new     choose a model, layers and images, and start
 */
export const jobsFeature: Feature = {
  name: "jobs",
  routes: [
    { path: "jobs", element: <JobsPage /> },
    { path: "jobs/:id", element: <JobPage /> },
    { path: "compute/new", element: <NewJobPage /> },
  ],
  nav: [JobsNavItem],
};

/** "Compute" in the top bar, with the number of queued and running computations. */
export function JobsNavItem() {
  const { data } = useResource(jobQueries.jobs(50), { fresh: true, pollMs: (jobs) => (jobs?.some(isActive) ? 3000 : 10_000) });
  const running = data ? data.filter(isActive).length : 0;
  const { pathname } = useLocation();
  const here = pathname.startsWith("/jobs") || pathname.startsWith("/compute");
  return (
    <NavLink to={jobPaths.list()} className={() => `jobs-nav${here ? " active" : ""}`} title="Computations: start one, watch progress">
      Compute
      {running > 0 && (
        <span className="nav-badge" aria-label={`${running} running`} data-testid="jobs-running">
          {running}
        </span>
      )}
    </NavLink>
  );
}
