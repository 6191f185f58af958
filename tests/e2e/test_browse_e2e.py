"""The browser microscope in headless Chromium against the real server on computed data."""
from __future__ import annotations

import re

import pytest

from conftest import XSS_LABEL

pytestmark = pytest.mark.browser


def unit_url(e2e, layer: str, index: int) -> str:
    return f"/models/{e2e.model}/layers/{layer}/units/{index}"


def load_all_images(page) -> int:
    """Scroll through the page (lazy images start loading), wait for every image, fail on a broken one."""
    page.evaluate(
        """async () => {
            const step = Math.max(200, window.innerHeight * 0.7);
            for (let y = 0; y <= document.documentElement.scrollHeight; y += step) {
                window.scrollTo(0, y);
                await new Promise(r => setTimeout(r, 60));
            }
            window.scrollTo(0, 0);
        }"""
    )
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
    broken = page.evaluate(
        "() => [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src'))"
    )
    assert broken == [], f"images that did not load: {broken}"
    return page.evaluate("() => document.images.length")


def test_models_page_to_layer_grid(probe, e2e):
    page = probe.page
    page.goto("/")
    card = page.locator(f"[data-model='{e2e.model}']")
    card.wait_for()
    for name in e2e.layers:
        assert card.get_by_role("link", name=name, exact=True).count() == 1
    assert card.locator(".status-done.badge").count() >= len(e2e.layers)
    probe.shot("models")
    card.get_by_role("link", name=e2e.layers[1], exact=True).click()
    page.wait_for_url(re.compile(rf"/models/{e2e.model}/layers/{re.escape(e2e.layers[1])}$"))
    page.locator("[data-testid=unit-grid] .cell").first.wait_for()
    assert probe.console_errors == []


def test_layer_grid_every_unit_and_image(probe, e2e):
    page = probe.page
    layer = e2e.layers[1]
    page.goto(f"/models/{e2e.model}/layers/{layer}")
    cells = page.locator("[data-testid=unit-grid] .cell")
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=unit-grid] .cell').length === {e2e.channels[layer]}"
    )
    assert page.locator("[data-testid=unit-grid] img[loading=lazy]").count() == e2e.channels[layer]
    assert load_all_images(page) >= e2e.channels[layer]
    # the label arrives as text in the grid cell
    labelled = page.locator(f"#u{e2e.labelled[1]} .label-text")
    assert labelled.inner_text() == XSS_LABEL
    probe.shot("grid")
    cells.nth(2).locator("a").click()
    page.wait_for_url(f"**{unit_url(e2e, layer, 2)}")
    page.locator(".unit-page").wait_for()
    assert probe.console_errors == [] and probe.dialogs == []


def test_unit_page_renders_examples_histogram_connections(probe, e2e):
    page = probe.page
    layer = e2e.layers[1]
    page.goto(unit_url(e2e, layer, 0))
    page.locator(".unit-page").wait_for()
    assert page.locator("h1").inner_text().startswith(f"{layer}")
    for objective in ("channel", "neuron", "negative", "diversity"):
        assert page.locator(f"figure.fv-{objective} img").count() >= 1, objective
    top = page.locator(".examples-top figure.example")
    bottom = page.locator(".examples-bottom figure.example")
    assert top.count() > 0 and bottom.count() > 0
    first_act = float(top.first.locator("figcaption .pos, figcaption .neg").first.inner_text())
    last_act = float(top.last.locator("figcaption .pos, figcaption .neg").first.inner_text())
    assert first_act >= last_act
    # histogram drawn by plotly
    page.locator("[data-testid=histogram] .main-svg").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=histogram] .barlayer .point').length > 0")
    # circuit neighbourhood: both directions, thumbnails, signed strengths, kernels
    incoming = page.locator("[data-testid=incoming] .conn")
    outgoing = page.locator("[data-testid=outgoing] .conn")
    assert incoming.count() > 0 and outgoing.count() > 0
    assert incoming.first.locator("svg.kernel rect").count() >= 1
    assert re.match(r"^[+−]\d", incoming.first.locator(".conn-nums span").first.inner_text())
    n_images = load_all_images(page)
    assert n_images >= top.count() + bottom.count() + incoming.count()
    probe.shot("unit")
    # heatmap overlay toggle
    assert page.locator(".example-img .overlay").count() == 0
    page.get_by_test_id("heatmap-toggle").check()
    top_bottom = ".examples-top .example-img {0}, .examples-bottom .example-img {0}"  # not the decile rows
    assert page.locator(top_bottom.format(".overlay")).count() == top.count() + bottom.count()
    assert page.locator(top_bottom.format(".rf-box")).count() == top.count() + bottom.count()
    load_all_images(page)
    probe.shot("unit-heatmaps")
    page.keyboard.press("h")
    assert page.locator(".example-img .overlay").count() == 0
    assert probe.console_errors == [] and probe.dialogs == []


def test_following_a_connection_lands_on_that_unit(probe, e2e):
    page = probe.page
    src_layer, dst_layer = e2e.layers[0], e2e.layers[1]
    page.goto(unit_url(e2e, dst_layer, 0))
    first = page.locator("[data-testid=incoming] .conn").first
    first.wait_for()
    target_index = int(first.get_attribute("data-conn-index"))
    assert first.get_attribute("data-conn-layer") == src_layer
    first.locator("a.unit-thumb").click()
    page.wait_for_url(f"**{unit_url(e2e, src_layer, target_index)}")
    page.wait_for_selector(f".unit-page[data-layer='{src_layer}'][data-unit-index='{target_index}']")
    # ... and its outputs lead back to the layer above
    out = page.locator("[data-testid=outgoing] .conn").first
    out.wait_for()
    assert out.get_attribute("data-conn-layer") == dst_layer
    probe.shot("connection-target")
    page.go_back()
    page.wait_for_url(f"**{unit_url(e2e, dst_layer, 0)}")
    page.wait_for_selector(f".unit-page[data-layer='{dst_layer}'][data-unit-index='0']")
    assert probe.console_errors == []


def test_keyboard_navigation_links_and_back_button(probe, e2e):
    page = probe.page
    l0, l1, l2 = e2e.layers[:3]

    def at(layer: str, index: int) -> None:
        page.wait_for_url(f"**{unit_url(e2e, layer, index)}")
        page.wait_for_selector(f".unit-page[data-layer='{layer}'][data-unit-index='{index}']")

    page.goto(unit_url(e2e, l1, 1))
    at(l1, 1)
    page.keyboard.press("ArrowRight")
    at(l1, 2)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    at(l1, 0)
    page.keyboard.press("ArrowLeft")  # no unit -1: stays
    page.wait_for_timeout(200)
    at(l1, 0)
    page.keyboard.press("ArrowUp")
    at(l0, 0)
    page.keyboard.press("ArrowDown")
    at(l1, 0)
    last = e2e.channels[l1] - 1
    page.goto(unit_url(e2e, l1, last))
    at(l1, last)
    page.keyboard.press("ArrowDown")  # same index, clamped to the next layer's units
    at(l2, min(last, e2e.channels[l2] - 1))
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(rf"/models/{e2e.model}/layers/{re.escape(l2)}(#u\d+)?$"))
    page.locator("[data-testid=unit-grid]").wait_for()
    page.go_back()
    at(l2, min(last, e2e.channels[l2] - 1))
    page.reload()  # a stable link survives reloads
    at(l2, min(last, e2e.channels[l2] - 1))
    # typing in a text field does not navigate
    page.evaluate("() => { const i = document.createElement('input'); i.id = 'probe-input'; document.body.prepend(i); }")
    page.focus("#probe-input")
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(200)
    at(l2, min(last, e2e.channels[l2] - 1))
    assert probe.console_errors == []


def test_html_from_the_database_is_shown_as_text(probe, e2e):
    page = probe.page
    layer, index = e2e.labelled
    page.goto(unit_url(e2e, layer, index))
    label = page.locator("h1 .unit-label")
    label.wait_for()
    assert label.inner_text() == XSS_LABEL
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_load_state("networkidle")  # leave only after the page's own requests finished
    page.goto("/")
    page.locator(".description").first.wait_for()
    assert "<script>" in page.locator(".description").first.inner_text()
    assert page.locator(".description b").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")
    probe.shot("escaped")
    page.wait_for_timeout(300)
    assert probe.dialogs == [] and probe.console_errors == []


def test_error_and_empty_states_explain_themselves(probe, e2e):
    page = probe.page
    layer = e2e.layers[0]
    page.goto("/models/no-such-model")
    box = page.locator(".error-box")
    assert "No model 'no-such-model'" in box.inner_text() and e2e.model in box.inner_text()
    page.goto(f"/models/{e2e.model}/layers/no.such.layer")
    assert "has no layer 'no.such.layer'" in page.locator(".error-box").inner_text()
    page.goto(unit_url(e2e, layer, 99999))
    assert f"has {e2e.channels[layer]} units" in page.locator(".error-box").inner_text()
    page.goto(f"/models/{e2e.model}/layers/{layer}/units/abc")
    assert "not a unit index" in page.locator(".error-box").inner_text()
    page.goto("/no/such/page")
    assert "No page at /no/such/page" in page.locator(".error-box").inner_text()
    if e2e.uncomputed:
        page.goto(f"/models/{e2e.model}/layers/{e2e.uncomputed}")
        empty = page.locator(".empty-state")
        assert "not been computed yet" in empty.inner_text()
        # issue 14: the hint names the model spec (not the slug, which `--model` cannot read) and the dataset
        hint = empty.inner_text()
        assert "circuitscope compute --model factory:" in hint and "--dataset concepts:96" in hint
        assert f"--layers {e2e.uncomputed} --model-slug {e2e.model}" in hint
        probe.shot("not-computed")
    # only the expected 404 responses were logged; nothing threw
    assert all("404" in e for e in probe.console_errors), probe.console_errors
    assert not any(e.startswith("pageerror") for e in probe.console_errors)
