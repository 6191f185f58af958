import { useCallback, useEffect, useId, useRef, useState } from "react";
import { ApiError } from "../../shared/api/client";
import { ErrorBox } from "../../shared/ErrorBox";
import { jobCalls, type BrowseOut } from "./jobsApi";

export const SUFFIXES = {
  checkpoint: [".pt", ".pth", ".ckpt", ".bin"],
  torchscript: [".pt", ".pth", ".jit", ".torchscript"],
  weights: [".pt", ".pth", ".bin", ".ckpt"],
  python: [".py"],
};
const IMAGE = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"];

const suffixOf = (name: string) => {
  const i = name.lastIndexOf(".");
  return i < 0 ? "" : name.slice(i).toLowerCase();
};

/** Browse the server's allowed folders (GET /api/sources/browse only) to pick a file or a folder. */
function Browser({
  start,
  mode,
  suffixes,
  onPick,
  onClose,
}: {
  start: string;
  mode: "file" | "dir";
  suffixes?: string[];
  onPick: (path: string) => void;
  onClose: () => void;
}) {
  const [listing, setListing] = useState<BrowseOut | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [typed, setTyped] = useState("");

  const latest = useRef(0); // only the answer to the latest request is shown (a slow one must not win)
  const open = useCallback(async (path?: string, fallbackToRoot = false) => {
    const ticket = ++latest.current;
    setLoading(true);
    try {
      let out: BrowseOut;
      try {
        out = await jobCalls.browse(path);
      } catch (err) {
        // The folder of the current value is gone or not allowed: start at the first root instead.
        if (!fallbackToRoot || !path) throw err;
        if (ticket !== latest.current) return;
        out = await jobCalls.browse();
      }
      if (ticket !== latest.current) return;
      setListing(out);
      setTyped(out.path);
      setError(null);
    } catch (err) {
      if (ticket === latest.current) setError(err);
    } finally {
      if (ticket === latest.current) setLoading(false);
    }
  }, []);

  // Start in the folder of the value the field had when the browser opened (not on every keystroke).
  const [initial] = useState(start);
  useEffect(() => {
    const folder = initial ? (mode === "dir" ? initial : initial.replace(/[\\/][^\\/]*$/, "")) : "";
    open(folder || undefined, true).catch(() => undefined);
  }, [open, initial, mode]);

  const images = listing ? listing.entries.filter((e) => e.kind === "file" && IMAGE.includes(suffixOf(e.name))).length : 0;
  const files = listing
    ? listing.entries.filter((e) => e.kind === "file" && (mode === "dir" ? false : !suffixes || suffixes.includes(suffixOf(e.name))))
    : [];
  const dirs = listing ? listing.entries.filter((e) => e.kind === "dir") : [];
  const hidden = listing ? listing.entries.length - dirs.length - files.length : 0;

  return (
    <div className="file-browser" role="dialog" aria-label={mode === "dir" ? "Choose a folder" : "Choose a file"}>
      <div className="fb-bar">
        {listing && listing.roots.length > 1 && (
          <select
            aria-label="Allowed folder"
            value={listing.roots.find((r) => listing.path === r || listing.path.startsWith(`${r}/`)) ?? ""}
            onChange={(e) => open(e.target.value)}
          >
            {listing.roots.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        )}
        <button type="button" className="small" disabled={!listing?.parent || loading} onClick={() => open(listing!.parent!)}>
          ↑ Up
        </button>
        <form
          className="fb-go"
          onSubmit={(e) => {
            e.preventDefault();
            open(typed.trim() || undefined);
          }}
        >
          <input className="mono" value={typed} onChange={(e) => setTyped(e.target.value)} aria-label="Folder path" />
          <button type="submit" className="small">
            Go
          </button>
        </form>
        {mode === "dir" && listing && (
          <button type="button" className="primary small" onClick={() => onPick(listing.path)}>
            Use this folder
          </button>
        )}
        <button type="button" className="small" onClick={onClose}>
          Close
        </button>
      </div>
      {error !== null && <ErrorBox error={error} title={error instanceof ApiError && error.status === 403 ? "Not allowed" : undefined} />}
      {listing && (
        <>
          <div className="fb-path mono small">
            {listing.path}
            {mode === "dir" && <span className="muted"> · {images} image{images === 1 ? "" : "s"} directly in this folder</span>}
          </div>
          <ul className="fb-list">
            {dirs.map((e) => (
              <li key={e.path}>
                <button type="button" className="fb-entry dir" onClick={() => open(e.path)}>
                  📁 {e.name}/
                </button>
              </li>
            ))}
            {files.map((e) => (
              <li key={e.path}>
                <button type="button" className="fb-entry file" onClick={() => onPick(e.path)}>
                  {e.name}
                </button>
              </li>
            ))}
            {!dirs.length && !files.length && <li className="muted">Nothing to pick here.</li>}
          </ul>
          {hidden > 0 && mode === "file" && (
            <div className="muted small">
              {hidden} other file{hidden === 1 ? "" : "s"} not shown ({suffixes?.join(", ")} only)
            </div>
          )}
          <div className="muted small">Only folders under {listing.roots.join(", ")} can be used (CIRCUITSCOPE_ALLOWED_ROOTS).</div>
        </>
      )}
    </div>
  );
}

/** A path field with a "Browse…" button that opens the server-side browser below it. */
export function PathField({
  label,
  value,
  onChange,
  mode,
  suffixes,
  placeholder,
  problem,
  name,
}: {
  label: string;
  value: string;
  onChange: (path: string) => void;
  mode: "file" | "dir";
  suffixes?: string[];
  placeholder?: string;
  problem?: string;
  name: string;
}) {
  const [browsing, setBrowsing] = useState(false);
  const id = useId();
  return (
    <div className={`field path-field${problem ? " has-problem" : ""}`} data-field={name}>
      <label htmlFor={id}>{label}</label>
      <div className="path-input">
        <input
          id={id}
          className="mono"
          value={value}
          placeholder={placeholder ?? (mode === "dir" ? "/path/to/folder" : "/path/to/file")}
          onChange={(e) => onChange(e.target.value)}
        />
        <button type="button" onClick={() => setBrowsing((b) => !b)} aria-expanded={browsing}>
          Browse…
        </button>
      </div>
      {problem && <div className="field-problem">{problem}</div>}
      {browsing && (
        <Browser
          start={value}
          mode={mode}
          suffixes={suffixes}
          onClose={() => setBrowsing(false)}
          onPick={(p) => {
            onChange(p);
            setBrowsing(false);
          }}
        />
      )}
    </div>
  );
}
