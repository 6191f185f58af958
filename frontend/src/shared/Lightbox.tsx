import { useEffect, useRef, type ReactNode } from "react";

/** A modal view of one image (or a few views of it): Esc or a click outside closes, ← / → step through.
 * Its keys are taken before the page's shortcuts (which would otherwise move to another unit). */
export function Lightbox({
  title,
  children,
  onClose,
  onPrev,
  onNext,
}: {
  title: string;
  children: ReactNode;
  onClose: () => void;
  onPrev?: () => void;
  onNext?: () => void;
}) {
  const cb = useRef({ onClose, onPrev, onNext });
  cb.current = { onClose, onPrev, onNext };
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    box.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      const fn = e.key === "Escape" ? cb.current.onClose : e.key === "ArrowLeft" ? cb.current.onPrev : e.key === "ArrowRight" ? cb.current.onNext : null;
      if (e.key === "Escape" || e.key.startsWith("Arrow") || e.key === "h") {
        // the page's shortcuts (unit navigation, heatmap toggle) stay quiet while the lightbox is open
        e.preventDefault();
        e.stopImmediatePropagation();
      }
      fn?.();
    };
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
      before?.focus?.();
    };
  }, []);
  return (
    <div className="lightbox-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()} data-testid="lightbox">
      <div className="lightbox" role="dialog" aria-modal="true" aria-label={title} tabIndex={-1} ref={box}>
        <div className="lightbox-head">
          <b>{title}</b>
          <span className="row">
            <button type="button" className="small" onClick={onPrev} disabled={!onPrev} aria-label="previous">
              ←
            </button>
            <button type="button" className="small" onClick={onNext} disabled={!onNext} aria-label="next">
              →
            </button>
            <button type="button" className="small" onClick={onClose} aria-label="close">
              ✕ Esc
            </button>
          </span>
        </div>
        {children}
      </div>
    </div>
  );
}
