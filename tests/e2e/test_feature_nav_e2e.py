"""The frontend by feature (issue 9 items 4-5): the top bar comes from the feature registry, every page reads
through the one generated client, and an API error reaches the page as the server's message. Model, layer,
unit, circuit and jobs pages at 1400 and 800 px wide, no console errors; screenshots in test-artifacts/front/."""
from __future__ import annotations

import re

import pytest

from conftest import ARTIFACTS, PageProbe

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS.parent / "front"
# browse, jobs, annotate: the order of features/registry.ts
NAV = ["Models", "Compute", "Search", "Label queue", "Circuits", "Families", "Export / import"]


@pytest.mark.parametrize("width", [1400, 800])
def test_pages_by_feature(browser, e2e, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, base_url=e2e.base)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    probe = PageProbe(page, f"front-{width}")

    def shot(name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name}: the page is {overflow} px wider than the {width} px window"

    try:
        layer = e2e.layers[1]
        page.goto(f"/models/{e2e.model}")
        page.locator(".badge.status-done").first.wait_for()
        links = page.locator("header nav > a, header nav .whoami a")
        texts = [t.strip() for t in page.locator("header nav > a").all_inner_texts()]
        assert texts[: len(NAV)] == NAV, texts
        assert links.count() >= len(NAV)
        shot("model")

        page.goto(f"/models/{e2e.model}/layers/{layer}")
        page.locator("[data-testid=unit-grid] .cell img").first.wait_for()
        shot("layer")

        page.goto(f"/models/{e2e.model}/layers/{layer}/units/2")
        page.locator(".examples-top img").first.wait_for()
        page.get_by_test_id("annotation-panel").wait_for()
        shot("unit")

        # a circuit from this unit (the generated client's POST), then its page
        page.get_by_test_id("start-circuit").click()
        page.wait_for_url(re.compile(r"/circuits/\d+$"))
        page.get_by_test_id("suggestion").first.wait_for()
        page.get_by_test_id("suggestion").first.get_by_role("button").click()
        page.locator("[data-testid=circuit-nodes] tr").nth(1).wait_for()
        page.locator("[data-testid=circuit-nodes] img").first.wait_for()  # node renders: image URLs from the API
        shot("circuit")
        page.locator("header nav").get_by_role("link", name="Circuits", exact=True).click()
        page.locator(".badge.circuit-proposed").first.wait_for()

        page.locator("header nav").get_by_role("link", name="Compute", exact=True).click()
        page.wait_for_url(re.compile(r"/jobs$"))
        page.locator("h1", has_text="Computations").wait_for()
        shot("jobs")

        # an API error is shown with the server's own message (ApiError.detail), not a generic failure
        page.goto("/models/no-such-model")
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "no-such-model" in alert.inner_text(), alert.inner_text()
        probe.console_errors = [e for e in probe.console_errors if "404" not in e]  # the browser logs the 404 itself
        assert probe.console_errors == [], probe.console_errors
    finally:
        ctx.close()
