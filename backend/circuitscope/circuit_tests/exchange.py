"""Circuit tests in the exports: project export/import, graph JSON, and the HTML report.

- project export: each circuit carries `tests` (uid, tested version, params, the result document,
  verdict, who, when); import writes them back unchanged, so export -> import -> export is identical.
- graph JSON (only a test of the circuit's current version counts): node `activation` = the node's
  mean spatial max on the test images (for the target: T's mean activation), member `influence` =
  its necessity share (its own drop / the circuit's drop, first ablation kind), link `weight` stays the
  weight and `attribution` is an extra property; `metadata.info.circuit_test` says which test.
- HTML report: a static section (no scripts) with the verdict, the numbers per kind, an SVG histogram
  of the random drops with the circuit's drop marked, minimality per member, and earlier tests.
"""
from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ..annotate.users import iso
from ..store.tables.annotation import Circuit
from ..store.tables.circuit_tests import CircuitTest
from .runner import tests_for


class CircuitTestDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uid: str = Field(min_length=1, max_length=36)
    circuit_version: int = Field(ge=1)
    params: dict[str, Any]
    results: dict[str, Any]
    verdict: str = Field(max_length=500)
    suggested_status: str = Field(max_length=20)
    created_by: str | None = Field(None, max_length=64)
    seconds: float = 0.0
    created_at: str


def export_tests(session: Session, circuit_id: int) -> list[dict[str, Any]]:
    rows = sorted(tests_for(session, circuit_id), key=lambda r: (iso(r.created_at) or "", r.uid))
    return [{"uid": r.uid, "circuit_version": r.circuit_version, "params": r.params, "results": r.results,
             "verdict": r.verdict, "suggested_status": r.suggested_status, "created_by": r.created_by,
             "seconds": r.seconds, "created_at": iso(r.created_at)} for r in rows]


def import_tests(session: Session, circuit_id: int, docs: list[CircuitTestDoc]) -> None:
    for t in docs:
        session.add(CircuitTest(uid=t.uid, circuit_id=circuit_id, circuit_version=t.circuit_version,
                                params=t.params, results=t.results, verdict=t.verdict,
                                suggested_status=t.suggested_status, created_by=t.created_by, seconds=t.seconds,
                                created_at=datetime.fromisoformat(t.created_at.replace("Z", "+00:00"))))


def current_test(session: Session, c: Circuit) -> CircuitTest | None:
    for r in tests_for(session, c.id):
        if r.circuit_version == c.version:
            return r
    return None


def annotate_graph(session: Session, c: Circuit, graph: dict[str, Any]) -> None:
    """Fill node activation/influence and link attribution from the latest test of this version."""
    row = current_test(session, c)
    rows = tests_for(session, c.id)
    if row is None:
        if rows:
            graph["metadata"]["info"]["circuit_test"] = {
                "stale": True, "tested_version": rows[0].circuit_version,
                "note": "the circuit changed since its last test; re-run it to fill activation, influence, attribution"}
        return
    doc = row.results
    first = next(iter(doc["results"].values()))
    circuit_drop = first["necessity"]["drop"] or 0.0
    drops = {m["unit"]: m["drop"] for m in first["members"]}
    acts = doc.get("node_activation", {})
    for n in graph["nodes"]:
        key = f"{n['layer_name']}:{n['unit_index']}"
        if key in acts:
            n["activation"] = acts[key]
        if key in drops and circuit_drop:
            n["influence"] = round(drops[key] / circuit_drop, 6)
        n["circuit_role"] = "target" if key in doc["targets"] else "member" if key in drops else None
    attr = {(e["source"], e["target"]): e.get("attribution") for e in doc["edges"]}
    ids = {n["node_id"]: f"{n['layer_name']}:{n['unit_index']}" for n in graph["nodes"]}
    for link in graph["links"]:
        a = attr.get((ids.get(link["source"]), ids.get(link["target"])))
        if a is not None:
            link["attribution"] = a
    graph["metadata"]["info"]["circuit_test"] = {
        "id": row.id, "uid": row.uid, "tested_version": row.circuit_version, "stale": False,
        "verdict": row.verdict, "suggested_status": row.suggested_status, "influence_kind": next(iter(doc["results"])),
        "activation": "mean spatial max on the test images", "images": doc["images"],
        "random_sets": doc["random_sets"]}


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _num(v: Any, fmt: str = ".3g") -> str:
    return "—" if v is None else format(v, fmt)


def _histogram_svg(values: list[float], mark: float, label: str, width: int = 360, height: int = 120) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return ""
    lo, hi = min(vals + [mark]), max(vals + [mark])
    span = (hi - lo) or 1.0
    bins = 24
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts) or 1
    bw = (width - 20) / bins
    bars = "".join(f'<rect x="{10 + i * bw:.1f}" y="{height - 20 - (height - 40) * c / top:.1f}" '
                   f'width="{bw - 1:.1f}" height="{(height - 40) * c / top:.1f}" fill="#95a5a6"/>'
                   for i, c in enumerate(counts))
    mx = 10 + (mark - lo) / span * (width - 20)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{_e(label)}">{bars}<line x1="{mx:.1f}" x2="{mx:.1f}" y1="10" y2="{height - 20}" '
            f'stroke="#c0392b" stroke-width="2"/><text x="{min(mx + 3, width - 90):.1f}" y="18" font-size="11" '
            f'fill="#c0392b">circuit {mark:.3g}</text><text x="10" y="{height - 5}" font-size="10" fill="#666">'
            f'{lo:.3g}</text><text x="{width - 10}" y="{height - 5}" font-size="10" fill="#666" '
            f'text-anchor="end">{hi:.3g}</text></svg>')


def report_section(session: Session, c: Circuit) -> str:
    rows = tests_for(session, c.id)
    if not rows:
        return "<h2>Tests</h2><p><em>not tested yet</em> (circuitscope circuits test " + str(c.id) + ")</p>"
    row = rows[0]
    doc = row.results
    stale = row.circuit_version != c.version
    parts = [f"<h2>Tests</h2><p><b>{_e(row.verdict)}</b><br>suggested status: <b>{_e(row.suggested_status)}</b> · "
             f"tested version {row.circuit_version}"
             + (f" <span class=bad>(stale: the circuit is at version {c.version}; re-run the test)</span>" if stale
                else "") + f" · {_e(row.created_by or '')} · {_e((iso(row.created_at) or '')[:16])}</p>",
             f"<p class=muted>targets {_e(', '.join(doc['targets']))}; members {_e(', '.join(doc['members']))}; "
             f"{_e(doc['test_images']['selection'])}; {doc['random_sets']} random sets of the same size from the "
             f"same layers; seed {doc['seed']}.</p>",
             "<table><tr><th>ablation</th><th>drop (spatial max)</th><th>relative</th><th>z</th><th>p</th>"
             "<th>preserved (sufficiency)</th><th>z</th><th>faithfulness</th><th>random drops</th></tr>"]
    for kind, r in doc["results"].items():
        n, s = r["necessity"], r["sufficiency"]
        parts.append(f"<tr><td>{_e(kind)}</td><td>{_num(n['drop'])}</td><td>{_num(n['relative_drop'], '.1%')}</td>"
                     f"<td>{_num(n['z'], '.2f')}</td><td>{_num(n['p'], '.2g')}</td>"
                     f"<td>{_num(s['preserved'], '.1%')}</td><td>{_num(s['z'], '.2f')}</td>"
                     f"<td>{_num(s['faithfulness'], '.1%')}</td>"
                     f"<td>{_histogram_svg(n['random_drops'], n['drop'], kind + ' random drops')}</td></tr>")
    parts.append("</table><h3>Minimality</h3><table><tr><th>member</th>"
                 + "".join(f"<th>drop alone ({_e(k)})</th><th>sufficiency loss ({_e(k)})</th>" for k in doc["results"])
                 + "</tr>")
    for i, unit in enumerate(doc["members"]):
        cells = "".join(f"<td>{_num(r['members'][i]['drop'])}</td>"
                        f"<td>{_num(r['members'][i]['sufficiency_loss'], '.1%')}</td>" for r in doc["results"].values())
        parts.append(f"<tr><td>{_e(unit)}</td>{cells}</tr>")
    parts.append("</table>")
    if len(rows) > 1:
        parts.append("<h3>Earlier tests</h3><ul>" + "".join(
            f"<li>v{r.circuit_version} {_e((iso(r.created_at) or '')[:16])}: {_e(r.verdict)}</li>" for r in rows[1:])
            + "</ul>")
    return "".join(parts)
