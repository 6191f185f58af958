"""The blind human comparison's arithmetic on a synthetic set of answers (numbers worked out by hand)."""
from __future__ import annotations

import numpy as np
import pytest

from circuitscope.evidence.comparison_math import Answer, bin_summary, results, sample_per_bin

SCAN = np.array([-1.0, -0.5, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])


def test_bins_cover_negative_zero_and_the_top_with_activation_times_frequency_weights():
    bins = bin_summary(SCAN, bins=4)
    assert bins["edges"] == [-1.0, 0.5, 2.0, 3.5, 5.0]
    assert bins["counts"] == [5, 1, 2, 2]  # 2.0 falls in the bin it opens; 5.0 in the last bin
    # (1/N) * sum of max(0, a): bin0 holds only non-positive values, so none of the expected activation
    assert bins["weights"] == pytest.approx([0.0, 0.1, 0.5, 0.9])


def test_activation_weighted_share_pooled_and_per_annotator():
    bins = bin_summary(SCAN, bins=4)
    answers = [Answer(0, "not", "a"), Answer(0, "not", "a"), Answer(1, "partly", "a"),
               Answer(2, "fits", "a"), Answer(2, "not", "b"), Answer(3, "fits", "a"), Answer(3, "fits", "b")]
    out = results(bins, answers)
    assert out["answers"] == 7
    b = out["bins"]
    assert [x["answers"] for x in b] == [2, 1, 2, 2]
    assert b[0]["share_not"] == 1.0 and b[1]["share_partly"] == 1.0
    assert b[2]["share_fits"] == 0.5 and b[2]["share_not"] == 0.5 and b[3]["share_fits"] == 1.0
    # fits: (0.1*0 + 0.5*0.5 + 0.9*1) / 1.5 ; partly: 0.1*1 / 1.5 ; headline counts partly as half
    assert out["weighted"]["fits"] == pytest.approx(1.15 / 1.5)
    assert out["weighted"]["partly"] == pytest.approx(0.1 / 1.5)
    assert out["weighted"]["not"] == pytest.approx(0.25 / 1.5)
    assert out["label_share"] == pytest.approx(0.8)
    assert out["coverage"] == pytest.approx(1.0)
    only_b = out["annotators"]["b"]
    assert only_b["weighted"]["fits"] == pytest.approx(0.9 / 1.4)
    assert only_b["coverage"] == pytest.approx(1.4 / 1.5)
    assert only_b["bins"][0]["share_fits"] is None  # unanswered bins are not guessed


def test_no_answers_and_bad_answers():
    bins = bin_summary(SCAN, bins=4)
    empty = results(bins, [])
    assert empty["label_share"] is None and empty["coverage"] == 0.0
    with pytest.raises(ValueError, match="fits, partly, not"):
        results(bins, [Answer(1, "maybe", "a")])


def test_sampling_draws_evenly_from_every_bin():
    rng = np.random.default_rng(0)
    scan = np.concatenate([np.zeros(900), rng.exponential(1.0, 100)])  # sparse unit: most images silent
    bins = bin_summary(scan, bins=10)
    picked = sample_per_bin(scan, np.array(bins["edges"]), per_bin=3, seed=1)
    hit = np.bincount(np.clip(np.searchsorted(bins["edges"], scan[picked], side="right") - 1, 0, 9), minlength=10)
    nonempty = np.array(bins["counts"]) > 0
    assert (hit[nonempty] == np.minimum(3, np.array(bins["counts"])[nonempty])).all()
    assert picked == sample_per_bin(scan, np.array(bins["edges"]), per_bin=3, seed=1)  # seeded
