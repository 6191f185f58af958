"""A self-contained HTML report of a circuit: one file, images embedded as data URIs, no scripts, no
network access (a Content-Security-Policy forbids any), every user-written text escaped."""
from __future__ import annotations

import base64
import html
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..annotate.circuits import circuit_dict, get_circuit, history
from ..annotate.users import utcnow_iso
from ..store.blobs import EXTENSIONS, BlobStore
from ..store.tables.annotation import Label
from ..store.tables.records import DatasetExample

POS, NEG = "#c0392b", "#2e6fb7"  # positive weights red, negative blue (legend in the report)
MIME_BY_EXT = {v: k for k, v in EXTENSIONS.items()}


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _data_uri(blobs: BlobStore | None, digest: str | None) -> str | None:
    if blobs is None or not digest:
        return None
    try:
        path = blobs.path(digest)
    except (FileNotFoundError, ValueError):
        return None
    mime = MIME_BY_EXT.get(path.suffix, "image/png")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _layout(nodes: list[dict]) -> tuple[dict[str, tuple[float, float]], int, int]:
    cols: dict[Any, list[dict]] = defaultdict(list)
    for n in nodes:
        cols[(n["layer_position"] if n["layer_position"] is not None else 10**6, n["layer"])].append(n)
    pos: dict[str, tuple[float, float]] = {}
    col_w, row_h = 230, 170
    height = 0
    for ci, key in enumerate(sorted(cols)):
        for ri, n in enumerate(sorted(cols[key], key=lambda n: n["index"])):
            pos[n["id"]] = (40 + ci * col_w, 80 + ri * row_h)
            height = max(height, 80 + (ri + 1) * row_h)
    return pos, 40 + len(cols) * col_w, max(height, 200)


def _svg(d: dict, images: dict[str, str | None]) -> str:
    pos, width, height = _layout(d["nodes"])
    box = 96
    max_w = max((abs(e["weight"]) for e in d["edges"]), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="circuit graph">',
             f'<defs><marker id="ap" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" '
             f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{POS}"/></marker>'
             f'<marker id="an" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" '
             f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{NEG}"/></marker></defs>']
    for e in d["edges"]:
        if e["source"] not in pos or e["target"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e["source"]], pos[e["target"]]
        x1, y1, x2, y2 = x1 + box, y1 + box / 2, x2, y2 + box / 2
        mid = (x1 + x2) / 2
        skip = x2 - x1 > 230  # skips a column: arc above the nodes in between
        lift = min(y1, y2) - 120 if skip else None
        color, marker = (POS, "ap") if e["weight"] >= 0 else (NEG, "an")
        w = 1 + 7 * abs(e["weight"]) / max_w
        curve = (f"C{x1 + 60:.1f},{lift:.1f} {x2 - 60:.1f},{lift:.1f}" if skip else
                 f"C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f}")
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} {curve} {x2:.1f},{y2:.1f}" '
                     f'stroke="{color}" stroke-width="{w:.2f}" fill="none" opacity="0.75" marker-end="url(#{marker})">'
                     f'<title>{_e(e["source"])} → {_e(e["target"])}: {e["weight"]:+.4g} ({_e(e["kind"])})</title></path>')
    for n in d["nodes"]:
        x, y = pos[n["id"]]
        stroke = "#e67e22" if n["pinned"] else ("#999" if not n["missing"] else "#c0392b")
        parts.append(f'<rect x="{x - 2}" y="{y - 2}" width="{box + 4}" height="{box + 4}" fill="#fff" '
                     f'stroke="{stroke}" stroke-width="2"/>')
        uri = images.get(n["id"])
        if uri:
            parts.append(f'<image x="{x}" y="{y}" width="{box}" height="{box}" href="{_e(uri)}"/>')
        else:
            parts.append(f'<text x="{x + box / 2}" y="{y + box / 2}" text-anchor="middle" font-size="11" '
                         f'fill="#888">{"missing unit" if n["missing"] else "no image"}</text>')
        parts.append(f'<text x="{x + box / 2}" y="{y + box + 16}" text-anchor="middle" font-size="12" '
                     f'font-weight="bold">{_e(n["id"])}</text>')
        label = n["label"] or "(unlabelled)"
        parts.append(f'<text x="{x + box / 2}" y="{y + box + 31}" text-anchor="middle" font-size="12">'
                     f'{_e(label[:34] + ("…" if len(label) > 34 else ""))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _when(value: str | None) -> str:
    return (value or "")[:16].replace("T", " ") + " UTC" if value else ""


def _para(text: str) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in (text or "").split("\n\n") if p.strip()) or "<p><em>none</em></p>"


def circuit_report_html(session: Session, circuit_id: int, blobs: BlobStore | None) -> str:
    c = get_circuit(session, circuit_id)
    d = circuit_dict(session, c)
    images = {n["id"]: _data_uri(blobs, n["image_hash"]) for n in d["nodes"]}
    unit_ids = [n["unit_id"] for n in d["nodes"] if n["unit_id"] is not None]
    labels: dict[int, list[Label]] = defaultdict(list)
    examples: dict[int, list[str]] = defaultdict(list)
    if unit_ids:
        for l in session.scalars(select(Label).where(Label.unit_id.in_(unit_ids), Label.deleted.is_(False))
                                 .order_by(Label.id)):
            assert l.unit_id is not None  # selected by unit_id IN (...)
            labels[l.unit_id].append(l)
        for ex in session.scalars(select(DatasetExample).where(DatasetExample.unit_id.in_(unit_ids),
                                                               DatasetExample.kind == "top",
                                                               DatasetExample.rank < 4)
                                  .order_by(DatasetExample.unit_id, DatasetExample.rank)):
            examples[ex.unit_id].append(ex.crop_hash)
    from ..evidence.label_scores import evidence_for_labels, evidence_text

    evidence = evidence_for_labels(session, [l for ls in labels.values() for l in ls])
    rows = []
    for n in sorted(d["nodes"], key=lambda n: (n["layer_position"] if n["layer_position"] is not None else 10**6,
                                               n["index"])):
        img = images.get(n["id"])
        ex_imgs = "".join(f'<img class="ex" src="{_e(u)}" alt="top example">'
                          for u in (_data_uri(blobs, h) for h in examples.get(n["unit_id"], [])) if u)
        labs = "".join(
            f"<li><b>{_e(l.label)}</b> — {_e(l.user.name)}, {_e(l.status)}, confidence {l.confidence:.2f}"
            + (f"<br><span class='muted'>{_e(l.description)}</span>" if l.description else "")
            + (f"<br><span class='tags'>{' '.join('#' + _e(t) for t in l.tags or [])}</span>" if l.tags else "")
            + f"<br><span class='{'bad' if evidence.get(l.id, {}).get('weak') else 'muted'}'>"
            + f"{_e(evidence_text(evidence.get(l.id)))}</span>"
            + "</li>" for l in labels.get(n["unit_id"], []))
        fv = f'<img class="fv" src="{_e(img)}" alt="feature visualization">' if img else ""
        rows.append(
            f"<tr><td>{fv}</td>"
            f"<td><b>{_e(n['id'])}</b>{' (pinned)' if n['pinned'] else ''}"
            f"{'<br><span class=bad>unit no longer exists</span>' if n['missing'] else ''}"
            f"{'<br>' + _e(n['note']) if n['note'] else ''}</td>"
            f"<td><b>{_e(n['label'] or '(unlabelled)')}</b> <span class='muted'>{_e(n['label_state'] or '')}</span>"
            f"<ul>{labs}</ul></td><td>{ex_imgs}</td></tr>")
    edge_rows = "".join(
        f"<tr><td>{_e(e['source'])}</td><td>{_e(e['target'])}</td>"
        f"<td style='color:{POS if e['weight'] >= 0 else NEG}'>{e['weight']:+.4g}</td><td>{e['l2']:.4g}</td>"
        f"<td>{_e(e['kind'])}</td></tr>" for e in sorted(d["edges"], key=lambda e: -abs(e["weight"])))
    supers = "".join(f"<li><b>{_e(s['name'])}</b>: {_e(', '.join(s['nodes']))}</li>" for s in d["supernodes"])
    hist = "".join(f"<li>v{h['version']} {_e(_when(h['created_at']))} — {_e(h['editor'])}: {_e(h['action'])} "
                   f"{_e(h['summary'])}</li>" for h in history(session, c.id))
    problems = "".join(f"<li>{_e(p)}</li>" for p in d["problems"])
    from ..circuit_tests.exchange import report_section

    tests = report_section(session, c)  # the stored circuit tests (static HTML, escaped)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(d['name'])} — circuit report</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}}
h1{{margin-bottom:.2rem}} .muted{{color:#666}} .tags{{color:#2c7a7b}} .bad{{color:#c0392b}}
.status{{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;background:#eee;font-size:.9rem}}
.status.supported{{background:#d4efdf}} .status.refuted{{background:#f5d5d0}} .status.proposed{{background:#fdebd0}}
table{{border-collapse:collapse;width:100%;margin:1rem 0}}
td,th{{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}}
img.fv{{width:96px;height:96px;image-rendering:pixelated}} img.ex{{width:64px;height:64px;margin:0 2px}}
.graph{{overflow-x:auto;border:1px solid #ddd;padding:.5rem;background:#fafafa}}
.claim{{font-size:1.1rem;border-left:4px solid #888;padding-left:1rem}}
</style></head><body>
<h1>{_e(d['name'])}</h1>
<div class="muted">model <b>{_e(d['model'])}</b> · <span class="status {_e(d['status'])}">{_e(d['status'])}</span>
· by {_e(d['author'])} · created {_e(_when(d['created_at']))} · version {d['version']} (updated {_e(_when(d['updated_at']))})</div>
<h2>Claim</h2><div class="claim">{_para(d['claim'])}</div>
<h2>Evidence</h2>{_para(d['evidence'])}
{tests}
{'<h2>Problems</h2><ul class=bad>' + problems + '</ul>' if problems else ''}
<h2>Graph</h2>
<p class="muted">Edges: <span style="color:{POS}">■ positive</span> / <span style="color:{NEG}">■ negative</span>
weight; width ∝ |weight|. Columns are layers in model order. Orange frame: pinned.</p>
<div class="graph">{_svg(d, images)}</div>
{'<h2>Supernodes</h2><ul>' + supers + '</ul>' if supers else ''}
<h2>Units ({len(d['nodes'])})</h2>
<table><tr><th>feature vis</th><th>unit</th><th>labels</th><th>top dataset examples</th></tr>{''.join(rows)}</table>
<h2>Edges ({len(d['edges'])})</h2>
<table><tr><th>from</th><th>to</th><th>weight</th><th>L2</th><th>kind</th></tr>{edge_rows}</table>
<h2>History</h2><ul>{hist}</ul>
<p class="muted">Exported by circuitscope on {_e(_when(utcnow_iso()))} (circuit uid {_e(d['uid'])}).</p>
</body></html>
"""
