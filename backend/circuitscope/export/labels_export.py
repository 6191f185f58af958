"""All labels of a model: CSV (one row per unit x annotator, with the unit's consensus) and JSON (per unit)."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..annotate.labels import consensus
from ..annotate.units import get_model, layer_positions
from ..annotate.users import iso
from ..store.tables.annotation import Label

CSV_COLUMNS = ["model", "layer", "unit_index", "annotator", "label", "description", "tags", "confidence", "status",
               "version", "created_at", "updated_at", "consensus_label", "consensus_state"]


def _grouped(session: Session, model_slug: str) -> list[tuple[tuple[str, int], list[Label]]]:
    get_model(session, model_slug)
    positions = layer_positions(session, model_slug)
    groups: dict[tuple[str, int], list[Label]] = defaultdict(list)
    for l in session.scalars(select(Label).where(Label.model_slug == model_slug, Label.deleted.is_(False))):
        groups[(l.layer_name, l.unit_index)].append(l)
    return sorted(groups.items(), key=lambda kv: (positions.get(kv[0][0], 10**9), kv[0][0], kv[0][1]))


def _safe_cell(value: Any) -> Any:
    """Spreadsheet-formula guard: text starting with = + - @ (or a tab/CR) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _evidence(session: Session, groups) -> dict[int, dict[str, Any]]:
    from ..evidence.label_scores import evidence_for_labels  # claims, concept AUC, blind share, weak flag

    return evidence_for_labels(session, [l for _, labels in groups for l in labels])


def labels_csv(session: Session, model_slug: str) -> str:
    from ..evidence.label_scores import CSV_COLUMNS as EVIDENCE_COLUMNS
    from ..evidence.label_scores import csv_cells

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS + EVIDENCE_COLUMNS)
    groups = _grouped(session, model_slug)
    evidence = _evidence(session, groups)
    for (layer, index), labels in groups:
        c = consensus(labels)
        for l in sorted(labels, key=lambda x: x.user.name):
            w.writerow([_safe_cell(v) for v in [
                model_slug, layer, index, l.user.name, l.label, l.description, ";".join(l.tags or []), l.confidence,
                l.status, l.version, iso(l.created_at), iso(l.updated_at), c["label"] if c else "",
                c["state"] if c else "", *csv_cells(evidence.get(l.id))]])
    return buf.getvalue()


def labels_json(session: Session, model_slug: str) -> dict[str, Any]:
    units = []
    groups = _grouped(session, model_slug)
    evidence = _evidence(session, groups)
    for (layer, index), labels in groups:
        c = consensus(labels)
        units.append({"layer": layer, "index": index, "consensus": c, "labels": [
            {"annotator": l.user.name, "label": l.label, "description": l.description, "tags": l.tags,
             "confidence": l.confidence, "status": l.status, "version": l.version, "created_at": iso(l.created_at),
             "updated_at": iso(l.updated_at), "evidence": evidence.get(l.id)} for l in sorted(labels, key=lambda x: x.user.name)]})
    return {"format": "circuitscope-labels", "model": model_slug, "units": units}
