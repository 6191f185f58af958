"""A newcomer's first hour, as screenshots (issue 14): models -> layer -> unit with heatmaps -> label ->
circuit -> export -> compute form, at 1400 and 800 px wide, with no console errors. The screenshots land in
test-artifacts/e2e/tour-<width>-<step>.png; look at them before calling a UI change done."""
from __future__ import annotations

import re

import pytest

from conftest import ARTIFACTS, PageProbe

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1400, 800])
def test_newcomer_tour(browser, e2e, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, base_url=e2e.base, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    probe = PageProbe(page, f"tour-{width}")
    shots: list[str] = []

    def shot(step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"tour-{width}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path.name)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{step}: the page is {overflow} px wider than the {width} px window"

    try:
        # 1. the models page: the status counts the layers the run asked for
        page.goto("/")
        card = page.locator(f"[data-model='{e2e.model}']")
        card.wait_for()
        assert "partly" not in card.inner_text(), card.inner_text()
        shot("1-models")

        # 2. a layer grid
        card.get_by_role("link", name=e2e.layers[1], exact=True).click()
        page.wait_for_url(re.compile(rf"/layers/{re.escape(e2e.layers[1])}$"))
        page.locator("[data-testid=unit-grid] .cell img").first.wait_for()
        shot("2-layer")

        # 3. a unit, with heatmaps
        page.locator("[data-testid=unit-grid] .cell").nth(3).click()
        page.wait_for_url(re.compile(r"/units/\d+$"))
        page.get_by_test_id("heatmap-toggle").check()
        page.locator(".examples-top img.overlay").first.wait_for()
        page.locator("[data-testid=histogram] .main-svg").first.wait_for(timeout=30_000)
        shot("3-unit-heatmaps")

        # 4. a label; the header follows
        panel = page.get_by_test_id("annotation-panel")
        panel.get_by_label("label", exact=True).fill(f"tour label {width}")
        panel.get_by_role("button", name="Save label").click()
        page.locator("h1 .unit-label", has_text=f"tour label {width}").wait_for()
        shot("4-labelled")

        # 5. a circuit from here, one suggested input added
        page.get_by_test_id("start-circuit").click()
        page.wait_for_url(re.compile(r"/circuits/\d+$"))
        page.get_by_test_id("suggestion").first.wait_for()
        page.get_by_test_id("suggestion").first.get_by_role("button").click()
        page.locator("[data-testid=circuit-nodes] tr").nth(1).wait_for()
        page.wait_for_function("() => window.__circuitGraph && window.__circuitGraph.nodes().length >= 2")
        shot("5-circuit")

        # 6. export: the graph JSON downloads
        with page.expect_download() as dl:
            page.get_by_test_id("export-graph-json").click()
        assert dl.value.suggested_filename.endswith(".json")

        # 7. the compute form
        page.goto("/compute/new")
        page.get_by_test_id("run-preview").wait_for()
        shot("7-compute-form")
        assert probe.console_errors == [], probe.console_errors
    finally:
        ctx.close()
