import type { ComponentType } from "react";
import { Link, Outlet, useRouteError, isRouteErrorResponse } from "react-router-dom";

/** Page frame: the top bar (brand, the features' nav items) and the page below. */
export function Layout({ nav }: { nav: ComponentType[] }) {
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          circuitscope
        </Link>
        <nav className="nav">
          {nav.map((Item, i) => (
            <Item key={i} />
          ))}
        </nav>
        <a className="api-link" href="/docs" title="REST API (OpenAPI)">
          API
        </a>
      </header>
      <main className="page">
        <Outlet />
      </main>
    </div>
  );
}

/** Shown when rendering a route throws (a bug) or a route does not exist. */
export function RouteError() {
  const err = useRouteError();
  const msg = isRouteErrorResponse(err) ? `${err.status} ${err.statusText}` : err instanceof Error ? err.message : String(err);
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          circuitscope
        </Link>
      </header>
      <main className="page">
        <div className="error-box" role="alert">
          <strong>Something went wrong on this page.</strong>
          <p>{msg}</p>
          <p>
            <Link to="/">Back to the models</Link>
          </p>
        </div>
      </main>
    </div>
  );
}
