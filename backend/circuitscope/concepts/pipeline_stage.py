"""The compute pipeline's concept part: which concepts a run scores, and storing the scores.

Kept here so compute/pipeline.py only gains two calls."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from circuitscope.concepts.store import write_layer_concepts, write_no_concepts
from circuitscope.concepts.tags_csv import TagsCsvError, read_tags_csv
from circuitscope.concepts.vocabulary import ConceptVocabulary, concept_vocabulary

__all__ = ["concept_setup", "write_concept_scores"]

CONCEPT_VERSION = "auc-hist/1"  # stored in the examples stage's params: layers computed before rerun


def concept_setup(examples_config: Any, dataset: Any) -> tuple[ConceptVocabulary | None, dict[str, Any]]:
    """(vocabulary or None, params that identify it). A bad tags CSV raises RunConfigError before
    anything is computed or stored."""
    from circuitscope.compute.config import RunConfigError

    if not getattr(examples_config, "concepts", True):
        return None, {}
    tags = None
    path = getattr(examples_config, "concept_tags", None)
    if path:
        try:
            tags = read_tags_csv(path, dataset)
        except TagsCsvError as e:
            raise RunConfigError(f"examples.concept_tags: {e}") from None
    vocab = concept_vocabulary(dataset, tags)
    params: dict[str, Any] = {"concepts": CONCEPT_VERSION}
    if tags:
        params["concept_tags"] = hashlib.sha256(json.dumps(tags, sort_keys=True).encode()).hexdigest()[:16]
    return vocab, params


def write_concept_scores(session: Any, examples_config: Any, layer_id: int, dataset_id: int | None,
                         units: dict[int, Any], tallies: Any, vocab: ConceptVocabulary | None) -> None:
    if not getattr(examples_config, "concepts", True):
        return
    if vocab is None or tallies.concepts is None:
        write_no_concepts(session, layer_id, dataset_id, units)
    else:
        write_layer_concepts(session, layer_id, dataset_id, units, tallies.concepts, vocab.source)
