"""Consensus labels of many units at once, for the grid and the unit page."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from ..tables.annotation import Label
from .sql import rows


def consensus_labels(session: Session, unit_ids: Iterable[int | None]) -> dict[int, str]:
    """Consensus label per unit id (absent when a unit has none).

    A cheap indexed look-up (labels.unit_id) first finds which of the units have any live label, so the
    consensus rule (annotate/labels.py: ORM objects, annotators) only runs for those.
    """
    from ...annotate.labels import consensus_labels as consensus  # the rule belongs to annotate (which imports store)

    ids = sorted({int(i) for i in unit_ids if i is not None})
    if not ids:
        return {}
    params = {f"u{i}": uid for i, uid in enumerate(ids)}
    sql = (f'SELECT DISTINCT "unit_id" FROM {Label.__tablename__} '
           f'WHERE "unit_id" IN ({", ".join(":" + k for k in params)}) AND "deleted" = :deleted')
    labelled = [r.unit_id for r in rows(session, sql, deleted=False, **params)]
    if not labelled:
        return {}
    return dict(consensus(session, labelled) or {})
