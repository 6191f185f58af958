// The run description the form stands for, as TOML or JSON (the same as a run file for the CLI).
import type { RunDescription } from "../jobsApi";
import { RunDescriptionView } from "../JobParts";

export function RunPreview({ description }: { description: RunDescription }) {
  return (
    <RunDescriptionView
      config={description as unknown as Record<string, unknown>}
      className="panel run-preview"
      preTestId="run-preview"
      footer={(text) => (
        <div className="muted small">
          The same as a run file for <code>circuitscope jobs submit run.toml</code>.{" "}
          <button type="button" className="link-button small" onClick={() => navigator.clipboard?.writeText(text).catch(() => undefined)}>
            copy
          </button>
        </div>
      )}
    />
  );
}
