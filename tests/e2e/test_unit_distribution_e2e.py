"""Issue 14, evidence on the unit page: examples across the distribution (per decile of the per-image spatial
max), every stored top example on demand, and the first layer's kernels in colour (RGB)."""
from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.browser


def unit_url(e2e, layer: str, index: int) -> str:
    return f"/models/{e2e.model}/layers/{layer}/units/{index}"


def test_examples_across_the_deciles(probe, e2e):
    page = probe.page
    api = httpx.get(f"{e2e.base}/api/models/{e2e.model}/layers/{e2e.layers[2]}/units/0").json()
    # the real pipeline stored them: 5 per decile of a uniform sample (96 images here: the whole dataset)
    assert sorted({e["decile"] for e in api["quantile"]}) == list(range(10))
    assert all(sum(e["decile"] == d for e in api["quantile"]) == 5 for d in range(10))
    page.goto(unit_url(e2e, e2e.layers[2], 0))
    section = page.get_by_test_id("quantile-examples")
    section.wait_for()
    rows = section.locator(".decile-row")
    assert rows.count() == 10
    assert rows.first.get_attribute("data-decile") == "9"  # strongest first, like the top row above
    assert rows.first.locator("h3").inner_text().startswith("90–100 %")
    assert rows.first.locator("figure.example").count() == 5
    # activations rise with the decile (the row of 90-100 % holds larger values than the row of 0-10 %)
    top_vals = [float(t) for t in rows.first.locator("figcaption span:first-child").all_inner_texts()]
    low_vals = [float(t) for t in rows.last.locator("figcaption span:first-child").all_inner_texts()]
    assert min(top_vals) >= max(low_vals)
    # a click enlarges it like a top example
    rows.first.locator(".example-img").first.click()
    page.locator(".lightbox-example").wait_for()
    page.keyboard.press("Escape")
    section.scroll_into_view_if_needed()
    probe.shot("deciles-1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 800, f"the page is {width} px wide at 800 px"
    probe.shot("deciles-800")
    assert probe.console_errors == []


def test_show_all_stored_top_examples(probe, e2e):
    page = probe.page
    layer = e2e.layers[1]
    path = f"/api/models/{e2e.model}/layers/{layer}/units/1"
    full = httpx.get(f"{e2e.base}{path}").json()
    stored = full["examples_stored"]["top"]
    assert stored == len(full["top"]) > 3

    # the first load shows 3 of them (as a unit with more than 10 stored would show 10 of them)
    def shorten(route):
        if "examples=" in route.request.url:
            route.continue_()
            return
        body = route.fetch().json()
        body["top"], body["bottom"] = body["top"][:3], body["bottom"][:3]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(f"**{path}*", shorten)
    page.goto(unit_url(e2e, layer, 1))
    button = page.get_by_test_id("show-all-examples")
    button.wait_for()
    assert button.inner_text() == f"show all {stored}"
    assert page.locator(".examples-top figure.example").count() == 3
    button.click()
    page.wait_for_function(f"document.querySelectorAll('.examples-top figure.example').length === {stored}")
    assert page.get_by_test_id("show-all-examples").count() == 0  # everything stored is shown
    assert probe.console_errors == []


def test_first_layer_kernels_in_colour(probe, e2e):
    page = probe.page
    first = e2e.layers[0]  # conv1.1: the ReLU after the conv that reads the image
    api = httpx.get(f"{e2e.base}/api/models/{e2e.model}/layers/{first}/units/2").json()
    k = api["input_kernel"]
    assert k["channels"] == 3 and k["size"] == [3, 3]
    assert httpx.get(f"{e2e.base}/api/models/{e2e.model}/layers/{e2e.layers[1]}/units/2").json()["input_kernel"] is None
    page.goto(unit_url(e2e, first, 2))
    panel = page.get_by_test_id("rgb-kernel")
    panel.wait_for()
    main = panel.locator(".rgb-kernel-main svg")
    assert main.locator("rect").count() == 9
    # the colour of a pixel is grey + its R, G, B weights on a shared scale
    vmax = max(abs(v) for ch in k["values"] for row in ch for v in row)
    fill = main.locator("rect[data-y='0'][data-x='1']").get_attribute("fill")
    want = [round(128 + 127 * k["values"][c][0][1] / vmax) for c in range(3)]
    assert fill == f"rgb({want[0]},{want[1]},{want[2]})"
    main.locator("rect[data-y='0'][data-x='1']").hover()
    readout = page.get_by_test_id("rgb-kernel-readout").inner_text()
    assert readout.startswith("(y 0, x 1) R ") and " G " in readout and " B " in readout
    small = main.bounding_box()["width"]
    panel.locator(".rgb-kernel-main").click()
    page.wait_for_function("document.querySelector('.rgb-kernel-main svg').getBoundingClientRect().width > 200")
    assert main.bounding_box()["width"] > 2 * small
    panel.scroll_into_view_if_needed()
    probe.shot("rgb-kernel-1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    probe.shot("rgb-kernel-800")
    assert probe.console_errors == []
