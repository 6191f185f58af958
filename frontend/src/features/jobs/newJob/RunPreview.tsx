// The run description the form stands for, as TOML or JSON (the same as a run file for the CLI).
import { useState } from "react";
import type { RunDescription } from "../jobsApi";
import { toToml } from "./runDescription";

export function RunPreview({ description }: { description: RunDescription }) {
  const [format, setFormat] = useState<"toml" | "json">("toml");
  const text = format === "toml" ? toToml(description as unknown as Record<string, unknown>) : JSON.stringify(description, null, 2);
  return (
    <aside className="panel run-preview">
      <div className="panel-head">
        <h2>Run description</h2>
        <span className="seg">
          <button type="button" className={`small${format === "toml" ? " active" : ""}`} onClick={() => setFormat("toml")}>
            TOML
          </button>
          <button type="button" className={`small${format === "json" ? " active" : ""}`} onClick={() => setFormat("json")}>
            JSON
          </button>
        </span>
      </div>
      <pre className="mono" data-testid="run-preview">
        {text}
      </pre>
      <div className="muted small">
        The same as a run file for <code>circuitscope jobs submit run.toml</code>.{" "}
        <button type="button" className="link-button small" onClick={() => navigator.clipboard?.writeText(text).catch(() => undefined)}>
          copy
        </button>
      </div>
    </aside>
  );
}
