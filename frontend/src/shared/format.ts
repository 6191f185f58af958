// Formatting shared by every feature: numbers and server timestamps.

/** A measurement: fixed digits, exponent when very large or small, "–" when missing. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(2);
  return v.toFixed(digits);
}

/** Server timestamps: ISO; one without a zone (older SQLite rows) is UTC. */
export function parseTime(s: string | null | undefined): Date | null {
  if (!s) return null;
  const hasZone = /[zZ]|[+-]\d\d:?\d\d$/.test(s.slice(10));
  const d = new Date(hasZone ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The one date format: "2 Dec 2026, 01:46" in the reader's locale and zone; "–" when missing. */
export function formatTime(s: string | null | undefined): string {
  const d = parseTime(s);
  if (!d) return "–";
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
