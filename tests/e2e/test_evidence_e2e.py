"""Label evidence in headless Chromium on the real computed e2e model: tuning curves on the unit page (a plot,
the preferred value marked and stated), and the blind comparison page end to end (create a sample, answer every
image with the keyboard without seeing activations, read the activation-weighted share), the label's evidence
beside it on the unit page. Screenshots: test-artifacts/e2e/test_*-*.png at 1400 and 800 px."""
from __future__ import annotations

import re

import httpx
import pytest

pytestmark = [pytest.mark.browser]


def test_tuning_curves_on_the_unit_page(probe, e2e):
    page = probe.page
    layer = e2e.layers[0]
    page.goto(f"/models/{e2e.model}/layers/{layer}/units/0")
    page.get_by_test_id("tuning-start").click()
    preferred = page.get_by_test_id("tuning-preferred")
    preferred.wait_for(timeout=60_000)
    assert re.fullmatch(r"-?\d+(\.\d+)?°", preferred.inner_text()), preferred.inner_text()
    page.wait_for_selector("[data-testid=tuning-plot] .main-svg")
    assert page.locator("[data-testid=tuning-plot] text", has_text="preferred").count() + \
        page.locator("[data-testid=tuning-plot] text", has_text="barely tuned").count() >= 1
    page.locator("[data-testid=tuning-curves] button", has_text="frequency").click()
    page.wait_for_function("() => /cycles/.test("
                           "document.querySelector('[data-testid=tuning-preferred]')?.textContent || '')",
                           timeout=60_000)
    probe.shot("1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    probe.shot("800")
    assert probe.console_errors == [] and probe.dialogs == []


def test_blind_comparison_end_to_end(probe, e2e):
    page = probe.page
    layer, index = e2e.labelled
    labels = httpx.get(f"{e2e.base}/api/labels/{e2e.model}/{layer}/{index}", timeout=30).json()["labels"]
    label = labels[0]
    page.goto(f"/models/{e2e.model}/layers/{layer}/units/{index}")
    page.get_by_test_id("label-evidence").wait_for()
    page.get_by_test_id("compare-link").first.click()
    page.wait_for_url(re.compile(r"/compare/"))
    assert page.get_by_test_id("compare-label").inner_text() == label["label"]  # HTML in the label stays text
    page.get_by_test_id("create-sample").click()
    page.get_by_test_id("compare-crop").wait_for(timeout=120_000)
    body = page.content()
    assert "activation" not in page.locator(".compare-item").inner_text().lower()  # blind: no values shown
    total = int(re.search(r"(\d+) images drawn evenly", page.locator(".compare-task").inner_text()).group(1))
    assert total >= 2, body[-500:]
    for k in range(total):
        page.keyboard.press("1" if k % 2 == 0 else "3")
        if k < total - 1:
            page.wait_for_function("() => document.querySelector('[data-testid=compare-answered]')?.textContent"
                                   f" === '{k + 1}'")
    headline = page.get_by_test_id("compare-headline")
    headline.wait_for(timeout=30_000)
    assert re.search(r"accounts for \d+ % of the unit's expected activation", headline.inner_text())
    page.wait_for_selector("[data-testid=compare-share-plot] .main-svg")
    probe.shot("results-1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    probe.shot("results-800")
    page.goto(f"/models/{e2e.model}/layers/{layer}/units/{index}")
    line = page.get_by_test_id("label-evidence").get_by_test_id("evidence-line").first
    line.wait_for()
    assert "blind share" in line.inner_text()
    assert probe.console_errors == [] and probe.dialogs == []
