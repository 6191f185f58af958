import { useEffect, useRef } from "react";

const NON_TEXT_INPUTS = new Set(["checkbox", "radio", "button", "submit", "reset", "range", "color"]);
/** Controls that move with the arrow keys (a slider, radio buttons): their arrows are not page shortcuts. */
const ARROW_INPUTS = new Set(["range", "radio"]);
const ARROW_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);

/** True when a key press belongs to a text field (or a modifier is held): page shortcuts stay quiet. */
export function isTypingTarget(e: KeyboardEvent): boolean {
  if (e.altKey || e.ctrlKey || e.metaKey) return true;
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  if (tag === "INPUT") {
    const type = (t as HTMLInputElement).type;
    if (ARROW_INPUTS.has(type) && ARROW_KEYS.has(e.key)) return true;
    return !NON_TEXT_INPUTS.has(type);
  }
  return tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable;
}

/** Page keyboard shortcuts: map of KeyboardEvent.key -> handler. */
export function useKeys(map: Record<string, () => void>): void {
  const ref = useRef(map);
  ref.current = map;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTypingTarget(e) || e.defaultPrevented) return;
      const fn = ref.current[e.key];
      if (fn) {
        e.preventDefault();
        fn();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}
