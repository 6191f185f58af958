import { useState } from "react";

/** The shell command that computes a layer, with a copy button. */
export function ComputeHint({ command, intro }: { command: string; intro?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="compute-hint">
      {intro && <p>{intro}</p>}
      <div className="command">
        <code>{command}</code>
        <button
          type="button"
          className="small"
          onClick={() => {
            navigator.clipboard?.writeText(command).then(() => setCopied(true), () => undefined);
          }}
        >
          {copied ? "copied" : "copy"}
        </button>
      </div>
    </div>
  );
}
