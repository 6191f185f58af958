import { useEffect, useRef, useState } from "react";
import type cytoscapeNs from "cytoscape";
import type { Core, ElementDefinition, EventObject, NodeSingular } from "cytoscape";
import { type Circuit } from "./annotateApi";

const POS = "#c0392b";
const NEG = "#2e6fb7";

export type LayoutKind = "layers" | "dagre";

let loaded: Promise<typeof cytoscapeNs> | null = null;
function loadCytoscape() {
  // cytoscape is large: loaded on first use, as its own chunk
  loaded ??= Promise.all([import("cytoscape"), import("cytoscape-dagre")]).then(([c, d]) => {
    c.default.use(d.default);
    return c.default;
  });
  return loaded;
}

export type EdgeStrength = "weight" | "attribution";

/** Edge strength shown: the weight, or (from a circuit test) weight x activation on the target's images. */
function strengthOf(e: Circuit["edges"][number], strength: EdgeStrength, attributions?: Record<string, number | null>) {
  if (strength === "attribution") return attributions?.[`${e.source}->${e.target}`] ?? 0;
  return e.weight;
}

function elements(c: Circuit, strength: EdgeStrength = "weight", attributions?: Record<string, number | null>): ElementDefinition[] {
  const parentOf = new Map<string, string>();
  c.supernodes.forEach((s, i) => s.nodes.forEach((n) => parentOf.has(n) || parentOf.set(n, `sn${i}`)));
  const maxW = Math.max(1e-9, ...c.edges.map((e) => Math.abs(strengthOf(e, strength, attributions))));
  // columns (layer order): edges that skip a column are drawn as arcs so they do not hide the others
  const cols = [...new Set(c.nodes.map((n) => n.layer_position ?? 1e6))].sort((a, b) => a - b);
  const colOf = new Map(c.nodes.map((n) => [n.id, cols.indexOf(n.layer_position ?? 1e6)]));
  const els: ElementDefinition[] = c.supernodes.map((s, i) => ({ data: { id: `sn${i}`, label: s.name, supernode: 1 } }));
  for (const n of c.nodes) {
    els.push({
      data: {
        id: n.id,
        label: `${n.layer}:${n.index}${n.label ? `\n${n.label.length > 60 ? n.label.slice(0, 59) + "…" : n.label}` : ""}`,
        ...(n.image ? { image: n.image } : {}),
        parent: parentOf.get(n.id),
        pinned: n.pinned ? 1 : 0,
        missing: n.missing ? 1 : 0,
      },
    });
  }
  for (const e of c.edges) {
    const v = strengthOf(e, strength, attributions);
    els.push({
      data: {
        id: `${e.source}->${e.target}`,
        source: e.source,
        target: e.target,
        color: v >= 0 ? POS : NEG,
        width: 1 + (7 * Math.abs(v)) / maxW,
        wlabel: (v >= 0 ? "+" : "") + v.toPrecision(3) + (strength === "attribution" ? " attr" : ""),
        kind: e.kind,
        skip: Math.abs((colOf.get(e.target) ?? 0) - (colOf.get(e.source) ?? 0)) > 1 ? 1 : 0,
        showw: c.edges.length <= 60 ? 1 : 0,
      },
    });
  }
  return els;
}

const COL_W = 250;
const ROW_H = 170;

/** The group (supernode) a node is drawn in: its first supernode, else -1. */
function groupOf(c: Circuit): Map<string, number> {
  const g = new Map<string, number>();
  c.supernodes.forEach((s, i) => s.nodes.forEach((n) => g.has(n) || g.set(n, i)));
  return g;
}

/** Columns by layer position (the model's order). Rows come in horizontal bands, one per supernode and then
 * one for ungrouped units, so a supernode's box (the bounding box of its members) never encloses a unit that
 * is not a member. Within a band, units are sorted by index. */
export function layerPositions(c: Circuit): Record<string, { x: number; y: number }> {
  const cols = [...new Set(c.nodes.map((n) => n.layer_position ?? 1e6))].sort((a, b) => a - b);
  const group = groupOf(c);
  const bands = [...c.supernodes.map((_, i) => i), -1];
  const out: Record<string, { x: number; y: number }> = {};
  let y0 = 0;
  for (const b of bands) {
    const inBand = c.nodes.filter((n) => (group.get(n.id) ?? -1) === b);
    if (!inBand.length) continue;
    let rows = 0;
    for (const [ci, p] of cols.entries()) {
      const inCol = inBand.filter((n) => (n.layer_position ?? 1e6) === p).sort((a, b2) => a.index - b2.index);
      inCol.forEach((n, ri) => (out[n.id] = { x: ci * COL_W, y: y0 + ri * ROW_H }));
      rows = Math.max(rows, inCol.length);
    }
    y0 += rows * ROW_H + (b >= 0 ? 70 : 0); // room for the box's padding and title between bands
  }
  return out;
}

/** Height of the drawing area: grows with the rows so labels stay readable instead of shrinking to fit. */
function graphHeight(c: Circuit): number {
  const ys = Object.values(layerPositions(c)).map((p) => p.y);
  const span = ys.length ? Math.max(...ys) - Math.min(...ys) : 0;
  return Math.max(420, Math.min(1600, span + ROW_H + 110));
}

/** The circuit as an interactive graph: feature-vis thumbnails, labels, edges coloured by sign and sized
 * by |weight|, supernodes as named boxes. Select nodes (shift-click / box) to group them; double-click opens. */
export function CircuitGraph({
  circuit,
  layout,
  onSelect,
  onOpen,
  strength = "weight",
  attributions,
}: {
  circuit: Circuit;
  layout: LayoutKind;
  onSelect: (ids: string[]) => void;
  onOpen: (id: string) => void;
  strength?: EdgeStrength;
  attributions?: Record<string, number | null>;
}) {
  const box = useRef<HTMLDivElement>(null);
  const cyRef = useRef<Core | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const cb = useRef({ onSelect, onOpen });
  cb.current = { onSelect, onOpen };
  useEffect(() => {
    let cancelled = false;
    loadCytoscape().then(
      (cytoscape) => {
        if (cancelled || !box.current) return;
        const pos = layerPositions(circuit);
        const cy = cytoscape({
          container: box.current,
          elements: elements(circuit, strength, attributions),
          wheelSensitivity: 0.3,
          boxSelectionEnabled: true,
          style: [
            {
              selector: "node",
              style: {
                shape: "round-rectangle",
                width: 80,
                height: 80,
                "background-color": "#f3f3f5",
                "border-width": 1,
                "border-color": "#bbb",
                label: "data(label)",
                "text-valign": "bottom",
                "text-margin-y": 4,
                "text-wrap": "wrap",
                "text-max-width": "200px",
                "font-size": 13,
                "min-zoomed-font-size": 0,
                "text-background-color": "#fff",
                "text-background-opacity": 0.85,
                "text-background-padding": "2px",
                color: "#222",
              },
            },
            { selector: "node[image]", style: { "background-image": "data(image)", "background-fit": "cover", "background-clip": "node" } },
            { selector: "node[pinned = 1]", style: { "border-width": 4, "border-color": "#e67e22" } },
            { selector: "node[missing = 1]", style: { "border-width": 3, "border-color": POS, "border-style": "dashed" } },
            {
              selector: "node[supernode = 1]",
              style: {
                shape: "round-rectangle",
                "background-color": "#eef3fb",
                "background-opacity": 0.6,
                "border-color": "#8aa9d6",
                "border-style": "dashed",
                label: "data(label)",
                "text-valign": "top",
                "font-size": 12,
                "font-weight": "bold",
                padding: "18px",
              } as never,
            },
            { selector: "node:selected", style: { "border-width": 4, "border-color": "#1a5fb4" } },
            {
              selector: "edge",
              style: {
                width: "data(width)",
                "line-color": "data(color)",
                "target-arrow-color": "data(color)",
                "target-arrow-shape": "triangle",
                "curve-style": "bezier",
                opacity: 0.8,
              },
            },
            // weights written on the edges (small circuits; larger ones show them on hover)
            {
              selector: "edge[showw = 1]",
              style: { label: "data(wlabel)", "font-size": 11, color: "#333", "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": "1px", "text-rotation": "autorotate" } as never,
            },
            { selector: "edge[kind = 'expanded']", style: { "line-style": "dashed" } },
            {
              selector: "edge[skip = 1]",
              style: { "curve-style": "unbundled-bezier", "control-point-distances": [-70], "control-point-weights": [0.5] } as never,
            },
            { selector: "edge:selected, edge.hover", style: { label: "data(wlabel)", "font-size": 10, "text-background-color": "#fff", "text-background-opacity": 1 } },
          ],
          layout:
            layout === "dagre"
              ? ({ name: "dagre", rankDir: "LR", nodeSep: 40, rankSep: 120, padding: 20 } as never)
              : { name: "preset", positions: pos, padding: 30 },
        });
        cy.on("select unselect", "node", () => cb.current.onSelect(cy.nodes(":selected").filter((n: NodeSingular) => !n.data("supernode")).map((n: NodeSingular) => n.id())));
        cy.on("dbltap", "node", (e: EventObject) => !e.target.data("supernode") && cb.current.onOpen(e.target.id()));
        cy.on("mouseover", "edge", (e: EventObject) => e.target.addClass("hover"));
        cy.on("mouseout", "edge", (e: EventObject) => e.target.removeClass("hover"));
        cy.fit(undefined, 30);
        if (cy.zoom() > 1.2) {
          cy.zoom(1.2);
          cy.center();
        }
        cyRef.current = cy;
        (window as unknown as { __circuitGraph?: Core }).__circuitGraph = cy; // for end-to-end tests
      },
      (e) => setErr(String(e)),
    );
    return () => {
      cancelled = true;
      cyRef.current?.destroy();
      cyRef.current = null;
    };
  }, [circuit, layout, strength, attributions]);
  return (
    <div className="circuit-graph-wrap">
      <div ref={box} className="circuit-graph" data-testid="circuit-graph" aria-label="circuit graph" style={{ height: graphHeight(circuit) }} />
      {err && <div className="error-box">Could not draw the graph: {err}</div>}
      <div className="legend small muted">
        <span style={{ color: POS }}>━ positive</span> <span style={{ color: NEG }}>━ negative</span> width ∝ |{strength === "attribution" ? "attribution (weight × activation, from the test)" : "weight"}| · dashed = expanded weight · orange
        frame = pinned · shift-click or drag a box to select · double-click opens a unit
      </div>
    </div>
  );
}
