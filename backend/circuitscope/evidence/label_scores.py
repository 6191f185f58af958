"""A label's evidence, travelling with it: the concepts it claims with the unit's AUC for each (concept scores
from concepts/store.py), its blind human-comparison share, and a flag when the evidence is weak.

Rules (stated in every payload as `rules`):
* a claimed concept's AUC is the unit's stored AUC for it; only a unit's TOP_PER_UNIT best concepts are stored,
  so a claim outside them has AUC below the lowest stored one (reported as `auc_below`);
* **weak**: any claimed concept with AUC < WEAK_AUC (or not among the stored best), or a human share < WEAK_SHARE;
* **supported**: claims all at AUC >= STRONG_AUC and/or a human share >= STRONG_SHARE, and nothing weak;
* **unchecked**: no claims and no human answers for the current label version; otherwise **mixed**.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..annotate.users import Identity
from ..errors import Forbidden, Invalid, NotFound
from ..store.tables.annotation import Label
from ..store.tables.concepts import LayerConcepts, UnitConcept
from ..store.tables.evidence import LabelClaim
from ..store.tables.records import Unit

WEAK_AUC, STRONG_AUC = 0.75, 0.9
WEAK_SHARE, STRONG_SHARE = 0.5, 0.7
MAX_CLAIMS = 8
RULES = (f"weak: a claimed concept with AUC < {WEAK_AUC} (or not among the unit's best stored concepts) or a "
         f"blind human share < {WEAK_SHARE:.0%}; supported: claims at AUC >= {STRONG_AUC} and/or a human share >= "
         f"{STRONG_SHARE:.0%}; unchecked: no claims and no human answers for the current label version")
CSV_COLUMNS = ["claimed_concepts", "concept_auc", "human_share", "human_answers", "evidence", "evidence_weak"]


def claims_by_label(session: Session, label_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(set(label_ids))
    out: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        for lid, concept in session.execute(select(LabelClaim.label_id, LabelClaim.concept)
                                            .where(LabelClaim.label_id.in_(ids[start:start + 500]))
                                            .order_by(LabelClaim.id)):
            out.setdefault(lid, []).append(concept)
    return out


def set_claims(session: Session, label_id: int, concepts: list[str], who: Identity) -> list[str]:
    """Replace the concepts a label claims (its annotator or an admin); each must be one the unit's layer was
    scored against, else 422 listing them."""
    label = session.get(Label, label_id)
    if label is None:
        raise NotFound(f"No label {label_id}.")
    if not who.has_role("annotator") or (label.user_id != who.id and not who.has_role("admin")):
        raise Forbidden(f"Only the label's annotator ({label.user.name}) or an admin may change what it "
                                 "claims.")
    clean = list(dict.fromkeys(c.strip() for c in concepts if isinstance(c, str) and c.strip()))
    if len(clean) > MAX_CLAIMS:
        raise Invalid(f"A label may claim at most {MAX_CLAIMS} concepts (got {len(clean)}).")
    if clean:
        valid = scored_concepts(session, label)
        if valid is None:
            raise Invalid(f"Layer '{label.layer_name}' has no concept scores (its dataset provides no "
                                     "attributes, classes or tags, or the layer was computed before concept "
                                     "scores existed), so a label there cannot claim concepts.")
        unknown = [c for c in clean if c not in valid]
        if unknown:
            shown = ", ".join(valid[:60]) + (f" ... ({len(valid)} in all)" if len(valid) > 60 else "")
            raise Invalid(f"Unknown concept '{unknown[0]}'. The layer was scored against: {shown}",
                                valid=valid)
    session.execute(delete(LabelClaim).where(LabelClaim.label_id == label.id))
    for c in clean:
        session.add(LabelClaim(label_id=label.id, concept=c))
    session.flush()
    return clean


def scored_concepts(session: Session, label: Label) -> list[str] | None:
    if label.unit_id is None:
        return None
    layer_id = session.scalar(select(Unit.layer_id).where(Unit.id == label.unit_id))
    row = session.get(LayerConcepts, layer_id) if layer_id else None
    if row is None or row.status != "scored":
        return None
    return [c["concept"] for c in row.concepts or []]


def _aucs(session: Session, unit_ids: list[int]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    if not unit_ids:
        return out
    for start in range(0, len(unit_ids), 500):
        for uid, concept, auc in session.execute(select(UnitConcept.unit_id, UnitConcept.concept, UnitConcept.auc)
                                                 .where(UnitConcept.unit_id.in_(unit_ids[start:start + 500]))):
            out.setdefault(uid, {})[concept] = float(auc)
    return out


def evidence_for_labels(session: Session, labels: list[Label]) -> dict[int, dict[str, Any]]:
    """label id -> {"claims": [{"concept", "auc", "auc_below"}], "human_share", "human_answers", "evidence",
    "weak", "reasons"} (see the module docstring)."""
    from .comparison import share_by_label

    labels = [l for l in labels if l is not None]
    claims = claims_by_label(session, [l.id for l in labels])
    aucs = _aucs(session, sorted({l.unit_id for l in labels if l.unit_id is not None}))
    human = share_by_label(session, [l.id for l in labels])
    out: dict[int, dict[str, Any]] = {}
    for l in labels:
        unit_aucs = aucs.get(l.unit_id, {}) if l.unit_id is not None else {}
        items: list[dict[str, Any]] = []
        reasons: list[str] = []
        for c in claims.get(l.id, []):
            auc = unit_aucs.get(c)
            below = min(unit_aucs.values()) if auc is None and unit_aucs else None
            items.append({"concept": c, "auc": auc, "auc_below": below})
            if auc is None:
                reasons.append(f"{c}: not among the unit's best concepts" + (f" (AUC < {below:.2f})" if below else ""))
            elif auc < WEAK_AUC:
                reasons.append(f"{c}: AUC {auc:.2f} < {WEAK_AUC}")
        h = human.get(l.id, {})
        share = h.get("human_share")
        if share is not None and share < WEAK_SHARE:
            reasons.append(f"blind comparison: the label accounts for {share:.0%} of the expected activation "
                           f"(< {WEAK_SHARE:.0%})")
        if not items and share is None:
            state = "unchecked"
        elif reasons:
            state = "weak"
        elif (items and all(i["auc"] is not None and i["auc"] >= STRONG_AUC for i in items)) or \
                (share is not None and share >= STRONG_SHARE):
            state = "supported"
        else:
            state = "mixed"
        out[l.id] = {"claims": items, "human_share": share, "human_answers": h.get("human_answers", 0),
                     "human_coverage": h.get("human_coverage"), "human_annotators": h.get("human_annotators", 0),
                     "evidence": state, "weak": state == "weak", "reasons": reasons}
    return out


def csv_cells(ev: dict[str, Any] | None) -> list[Any]:
    """The CSV_COLUMNS cells of one label's evidence."""
    if ev is None:
        return ["", "", "", 0, "unchecked", False]
    return [";".join(c["concept"] for c in ev["claims"]),
            ";".join("" if c["auc"] is None else f"{c['auc']:.4f}" for c in ev["claims"]),
            "" if ev["human_share"] is None else f"{ev['human_share']:.4f}", ev["human_answers"], ev["evidence"],
            ev["weak"]]


def unit_evidence(session: Session, slug: str, layer: str, index: int) -> dict[str, Any]:
    """Every live label on a unit with its evidence, plus the concepts the layer was scored against."""
    labels = list(session.scalars(select(Label).where(Label.model_slug == slug, Label.layer_name == layer,
                                                      Label.unit_index == index, Label.deleted.is_(False))
                                  .order_by(Label.updated_at.desc(), Label.id)))
    ev = evidence_for_labels(session, labels)
    scored = scored_concepts(session, labels[0]) if labels else None
    return {"rules": RULES, "thresholds": {"weak_auc": WEAK_AUC, "strong_auc": STRONG_AUC, "weak_share": WEAK_SHARE,
                                           "strong_share": STRONG_SHARE},
            "scored_concepts": scored,
            "labels": [{"id": l.id, "label": l.label, "annotator": l.user.name, "version": l.version, **ev[l.id]}
                       for l in labels]}


def evidence_text(ev: dict[str, Any] | None) -> str:
    """One line for reports: 'claims colour=red (AUC 0.97) · blind share 74 % (60 answers) · WEAK: ...'."""
    if ev is None or ev["evidence"] == "unchecked":
        return "evidence: unchecked (no claimed concepts, no blind comparison)"
    parts = []
    if ev["claims"]:
        parts.append("claims " + ", ".join(
            f"{c['concept']} (AUC {c['auc']:.2f})" if c["auc"] is not None else f"{c['concept']} (AUC not stored)"
            for c in ev["claims"]))
    if ev["human_share"] is not None:
        parts.append(f"blind share {ev['human_share']:.0%} ({ev['human_answers']} answers)")
    head = "WEAK evidence" if ev["weak"] else f"evidence {ev['evidence']}"
    return f"{head}: " + " · ".join(parts) + (f" — {'; '.join(ev['reasons'])}" if ev["reasons"] else "")


def attach_evidence(session: Session, results: list[dict[str, Any]]) -> None:
    """Add "evidence" to every label dict of search results ({"labels": [label_dict, ...]}), in place."""
    ids = [l["id"] for r in results for l in r.get("labels", []) if l.get("id") is not None]
    if not ids:
        return
    labels = list(session.scalars(select(Label).where(Label.id.in_(ids))))
    ev = evidence_for_labels(session, labels)
    for r in results:
        for l in r.get("labels", []):
            l["evidence"] = ev.get(l.get("id"))
