import type { ReactNode } from "react";
import { ApiError } from "./api/client";

/** An error explained: the server's message, what status it was, and optional next steps. */
export function ErrorBox({ error, title, children }: { error: unknown; title?: string; children?: ReactNode }) {
  const status = error instanceof ApiError ? error.status : 0;
  const message = error instanceof Error ? error.message : String(error);
  const heading =
    title ??
    (status === 404 ? "Not found" : status === 0 ? "Could not load" : status >= 500 ? "Server error" : `Error ${status}`);
  return (
    <div className="error-box" role="alert">
      <strong>{heading}</strong>
      {status > 0 && <span className="muted"> (HTTP {status})</span>}
      <p>{message}</p>
      {children}
    </div>
  );
}

/** An empty state: nothing is wrong, there is just nothing here yet. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty-state">
      <strong>{title}</strong>
      {children}
    </div>
  );
}
