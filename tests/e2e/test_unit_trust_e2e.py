"""Issue 14 in headless Chromium: evidence views that do not mislead, keys that do not eat drafts, edits
that survive latency (route delays), a circuit editor that keeps its suggestions, pages usable at 800 px."""
from __future__ import annotations

import re
import time

import httpx
import pytest

from conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def unit_url(e2e, layer: str, index: int) -> str:
    return f"/models/{e2e.model}/layers/{layer}/units/{index}"


def delay_route(page, pattern: str, seconds: float, method: str | None = None) -> None:
    """Hold matching requests for `seconds` before sending them on (a slow connection)."""
    def handler(route):
        if method is None or route.request.method == method:
            time.sleep(seconds)
        route.continue_()
    page.route(pattern, handler)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def ch(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (ch(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    pa = [float(x) for x in re.findall(r"[\d.]+", a)[:3]]
    pb = [float(x) for x in re.findall(r"[\d.]+", b)[:3]]
    la, lb = sorted([_luminance(tuple(pa)), _luminance(tuple(pb))], reverse=True)
    return (la + 0.05) / (lb + 0.05)


def new_circuit(e2e, name: str, units: list[tuple[str, int]], claim: str = "") -> int:
    r = httpx.post(f"{e2e.base}/api/circuits", json={"model": e2e.model, "name": name, "claim": claim,
                                                      "units": [{"layer": l, "index": i} for l, i in units]})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


# --- evidence views ------------------------------------------------------------------------------

def test_heatmap_overlay_lets_the_photo_through(probe, e2e):
    page = probe.page
    page.goto(unit_url(e2e, e2e.layers[2], 0))
    page.get_by_test_id("heatmap-toggle").check()
    overlay = page.locator(".examples-top .example-img img.overlay").first
    overlay.wait_for()
    # the overlay image itself must be see-through where the heatmap PNG is: no opaque background colour
    assert overlay.evaluate("el => getComputedStyle(el).backgroundColor") in ("rgba(0, 0, 0, 0)", "transparent")
    assert page.locator(".examples-top .example-img img.photo").count() == page.locator(".examples-top .example-img img.overlay").count()
    probe.shot("heatmap")
    assert probe.console_errors == []


def test_crops_keep_their_aspect_ratio_and_border_crops_are_marked(probe, e2e):
    page = probe.page
    page.goto(unit_url(e2e, e2e.layers[2], 0))
    page.locator(".examples-top img.crop").first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('img.crop')].every(i => i.complete && i.naturalWidth > 0)")
    crops = page.evaluate("""() => [...document.querySelectorAll('img.crop')].map(i => ({
        nw: i.naturalWidth, nh: i.naturalHeight, w: i.getBoundingClientRect().width, h: i.getBoundingClientRect().height,
        clipped: i.closest('figure').classList.contains('clipped')}))""")
    non_square = [c for c in crops if abs(c["nw"] / c["nh"] - 1) > 0.05]
    assert non_square, "the e2e data should contain border crops (receptive field clipped by the image edge)"
    for c in crops:
        assert abs(c["w"] / c["h"] - c["nw"] / c["nh"]) < 0.08, f"crop drawn distorted: {c}"
        assert max(c["w"], c["h"]) <= 88.5
    assert all(c["clipped"] for c in non_square)
    probe.shot("crops")


def test_border_firing_unit_is_flagged(probe, e2e):
    page = probe.page
    url = f"/api/models/{e2e.model}/layers/{e2e.layers[2]}/units/1"

    def on_border(route):  # the same unit, with every top example moved to the left edge (x = 0)
        resp = route.fetch()
        data = resp.json()
        for ex in data["top"]:
            ex["x"] = 0
        route.fulfill(response=resp, json=data)

    page.route(url, on_border)
    page.goto(unit_url(e2e, e2e.layers[2], 1))
    flag = page.get_by_test_id("border-flag")
    flag.wait_for()
    n = len(httpx.get(e2e.base + url).json()["top"])
    assert f"{n}/{n} top examples" in flag.inner_text()
    assert "padding" in flag.inner_text()
    page.unroute(url)
    page.goto(unit_url(e2e, e2e.layers[1], 3))
    page.locator(".examples-top img.crop").first.wait_for()
    real = httpx.get(f"{e2e.base}/api/models/{e2e.model}/layers/{e2e.layers[1]}/units/3").json()
    shape = real["layer"]["output_shape"][-2:]
    on = sum(1 for ex in real["top"] if ex["x"] in (0, shape[1] - 1) or ex["y"] in (0, shape[0] - 1))
    if on < len(real["top"]) / 2:  # a unit that does not sit on the border is not flagged
        assert page.get_by_test_id("border-flag").count() == 0


def test_lightbox_enlarges_and_owns_the_arrow_keys(probe, e2e):
    page = probe.page
    start = unit_url(e2e, e2e.layers[1], 2)
    page.goto(start)
    page.locator(".examples-top .example-img").first.click()
    box = page.get_by_test_id("lightbox")
    box.wait_for()
    assert box.locator(".lb-stack img.overlay").count() == 1
    page.keyboard.press("ArrowRight")  # next example, not the next unit
    assert page.url.endswith(start)
    page.keyboard.press("Escape")
    box.wait_for(state="detached")
    assert page.url.endswith(start)
    page.locator(".fv-row .enlarge-link").first.click()
    big = page.locator("[data-testid=lightbox] .lightbox-single img")
    big.wait_for()
    assert big.evaluate("el => el.getBoundingClientRect().width") >= 300
    probe.shot("lightbox")
    page.keyboard.press("Escape")
    assert probe.console_errors == []


def test_stats_table_follows_the_per_image_switch(probe, e2e):
    page = probe.page
    page.goto(unit_url(e2e, e2e.layers[1], 0))
    table = page.get_by_test_id("stats-table")
    table.wait_for()
    before = table.inner_text()
    page.get_by_role("button", name="per-image max").click()
    page.wait_for_function("() => document.querySelector('[data-testid=stats-table]').dataset.stats === 'per-image-max'")
    assert table.inner_text() != before
    assert "per-image" in table.inner_text()


def test_histogram_placeholder_while_plotly_loads(probe, e2e):
    page = probe.page
    delay_route(page, re.compile(r".*/assets/plotly.*\.js$"), 4.0)
    page.goto(unit_url(e2e, e2e.layers[1], 0))
    page.get_by_test_id("histogram-placeholder").first.wait_for(timeout=3000)
    assert page.get_by_test_id("histogram-placeholder").first.locator("rect").count() > 0
    page.get_by_test_id("histogram-placeholder").first.wait_for(state="detached", timeout=30_000)
    assert page.locator("[data-testid=histogram] .main-svg").count() >= 1


# --- keys ------------------------------------------------------------------------------------------

def test_arrow_keys_on_the_confidence_slider_keep_the_draft(probe, e2e):
    page = probe.page
    start = unit_url(e2e, e2e.layers[1], 4)
    page.goto(start)
    panel = page.get_by_test_id("annotation-panel")
    panel.get_by_label("label", exact=True).fill("half-typed draft")
    slider = panel.get_by_label("confidence")
    slider.focus()
    before = slider.input_value()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    time.sleep(0.3)
    assert page.url.endswith(start)
    assert panel.get_by_label("label", exact=True).input_value() == "half-typed draft"
    assert float(slider.input_value()) > float(before)


def test_queue_slider_arrows_do_not_skip(probe, e2e):
    page = probe.page
    page.goto(f"/queue/{e2e.model}/{e2e.layers[2]}")
    field = page.get_by_label("queue label")
    field.wait_for()
    page.wait_for_function("() => document.querySelector('.queue input[type=range]')")
    field.fill("typed in the queue")
    page.locator(".queue input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    time.sleep(0.4)
    assert field.input_value() == "typed in the queue"


def test_up_down_return_to_the_same_unit_and_skip_uncomputed_layers(probe, e2e):
    page = probe.page
    small, big = e2e.layers[0], e2e.layers[1]
    assert e2e.channels[big] > e2e.channels[small]
    top = e2e.channels[big] - 1
    page.goto(unit_url(e2e, big, top))
    page.locator(f".unit-page[data-unit-index='{top}']").wait_for()
    page.keyboard.press("ArrowUp")
    page.locator(f".unit-page[data-layer='{small}'][data-unit-index='{e2e.channels[small] - 1}']").wait_for()
    page.keyboard.press("ArrowDown")
    page.locator(f".unit-page[data-layer='{big}']").wait_for()
    assert page.url.endswith(unit_url(e2e, big, top)), page.url
    # the last computed layer: the next module (uncomputed) is not a destination
    last = e2e.layers[-1]
    page.goto(unit_url(e2e, last, 0))
    page.locator(f".unit-page[data-layer='{last}']").wait_for()
    assert page.get_by_role("button", name=re.compile("^↓")).is_disabled()
    page.keyboard.press("ArrowDown")
    time.sleep(0.4)
    assert page.url.endswith(unit_url(e2e, last, 0))


# --- labels and latency ------------------------------------------------------------------------------

def test_saved_label_shows_in_header_without_reload(probe, e2e):
    page = probe.page
    layer, index = e2e.layers[2], 5
    page.goto(unit_url(e2e, layer, index))
    panel = page.get_by_test_id("annotation-panel")
    panel.get_by_label("label", exact=True).fill("fresh header label")
    panel.get_by_role("button", name="Save label").click()
    page.locator("h1 .unit-label", has_text="fresh header label").wait_for(timeout=10_000)
    page.locator(".consensus-label", has_text="fresh header label").first.wait_for()


def test_double_click_start_circuit_makes_one(probe, e2e):
    page = probe.page
    layer, index = e2e.layers[2], 7
    before = len(httpx.get(f"{e2e.base}/api/circuits").json())
    delay_route(page, "**/api/circuits", 1.0, method="POST")
    page.goto(unit_url(e2e, layer, index))
    page.get_by_test_id("start-circuit").dblclick()
    page.wait_for_url(re.compile(r"/circuits/\d+$"))
    time.sleep(1.5)
    assert len(httpx.get(f"{e2e.base}/api/circuits").json()) == before + 1


def test_quick_adds_queue_on_the_latest_version_and_suggestions_stay(probe, e2e):
    page = probe.page
    target = f"{e2e.layers[2]}:0"
    cid = new_circuit(e2e, "quick adds", [(e2e.layers[2], 0)])
    delay_route(page, re.compile(r".*/api/circuits/\d+/nodes$"), 0.8, method="POST")
    page.goto(f"/circuits/{cid}")
    group = page.locator(f"[data-testid=suggestion-group][data-node='{target}'][data-direction=up]")
    group.wait_for()
    offered = group.get_by_test_id("suggestion").count()
    assert offered > 8, f"only {offered} suggestions for the target's inputs"
    names = group.locator("[data-testid=suggestion] .mono").all_inner_texts()[:2]
    group.get_by_role("button", name=f"add {names[0]}").click()
    group.get_by_role("button", name=f"add {names[1]}").click()
    page.get_by_test_id("saving").wait_for(state="detached", timeout=15_000)
    assert page.get_by_role("alert").filter(has_text="changed since you loaded it").count() == 0
    nodes = {n["id"] for n in httpx.get(f"{e2e.base}/api/circuits/{cid}").json()["nodes"]}
    assert {target, *names} <= nodes
    # the target's other inputs are still offered after adding two of them
    group.wait_for()
    assert group.get_by_test_id("suggestion").count() == offered - 2
    # a whole group above a threshold in one click
    before = len(nodes)
    group.get_by_test_id("add-group").click()
    page.get_by_test_id("saving").wait_for(state="detached", timeout=15_000)
    after = httpx.get(f"{e2e.base}/api/circuits/{cid}").json()["nodes"]
    assert len(after) > before
    probe.shot("circuit-suggestions")
    assert probe.console_errors == []


def test_supernode_box_encloses_only_its_members_and_labels_read(probe, e2e):
    page = probe.page
    layer = e2e.layers[1]
    cid = new_circuit(e2e, "supernode layout", [(layer, 1), (layer, 5), (layer, 9), (e2e.layers[2], 0)])
    c = httpx.get(f"{e2e.base}/api/circuits/{cid}").json()
    r = httpx.patch(f"{e2e.base}/api/circuits/{cid}", json={"version": c["version"], "supernodes": [
        {"name": "pair", "nodes": [f"{layer}:1", f"{layer}:9"]}]})
    assert r.status_code == 200, r.text
    page.goto(f"/circuits/{cid}")
    page.wait_for_function("() => window.__circuitGraph && window.__circuitGraph.nodes().length === 5")
    geo = page.evaluate("""outsiderId => {
        const cy = window.__circuitGraph;
        const bb = n => n.boundingBox({includeLabels: false});
        const box = bb(cy.nodes('[supernode = 1]')[0]);
        const outsider = bb(cy.getElementById(outsiderId));
        const fonts = cy.nodes('[^supernode]').map(n => parseFloat(n.renderedStyle('font-size')));
        const edgeLabels = cy.edges().map(e => e.style('label'));
        return {box, outsider, minFont: Math.min(...fonts), edgeLabels};
    }""", f"{layer}:5")
    b, o = geo["box"], geo["outsider"]
    overlap = not (o["x2"] < b["x1"] or o["x1"] > b["x2"] or o["y2"] < b["y1"] or o["y1"] > b["y2"])
    assert not overlap, geo
    assert geo["minFont"] >= 10, geo
    assert geo["edgeLabels"] and all(lbl for lbl in geo["edgeLabels"]), "edge weights should be written on the edges"
    probe.shot("supernode")


# --- contrast and width --------------------------------------------------------------------------------

def test_active_toggle_stays_readable_on_hover(probe, e2e):
    page = probe.page
    page.goto(unit_url(e2e, e2e.layers[1], 0))
    btn = page.locator("button.active", has_text="all positions")
    btn.hover()
    time.sleep(0.2)
    fg, bg = btn.evaluate("el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert contrast(fg, bg) >= 4.5, (fg, bg)


@pytest.mark.parametrize("path", ["/circuits", "unit", "circuit"])
def test_pages_fit_800px(browser, e2e, path):
    ctx = browser.new_context(viewport={"width": 800, "height": 900}, base_url=e2e.base)
    page = ctx.new_page()
    try:
        if path == "unit":
            url = unit_url(e2e, e2e.layers[1], 0)
        elif path == "circuit":
            url = f"/circuits/{new_circuit(e2e, 'a circuit with a long claim ' * 3, [(e2e.layers[1], 0), (e2e.layers[2], 0)])}"
        else:
            new_circuit(e2e, "wide " * 20, [(e2e.layers[1], 2)],
                        claim="curve detectors in conv3 are built from oriented edge detectors " * 4)
            url = path
        page.goto(url)
        page.wait_for_load_state("networkidle")
        time.sleep(0.5)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"issue14-800-{path.strip('/')}.png"), full_page=True)
        assert widths[0] <= widths[1] + 1, f"{url} overflows at 800 px: {widths}"
        # no table sticks out of its box (unless the box scrolls it)
        sticking_out = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => {
            const box = t.parentElement;
            if (['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) return false;
            const inner = box.getBoundingClientRect().right - parseFloat(getComputedStyle(box).paddingRight);
            return t.getBoundingClientRect().right > inner + 1;
        }).map(t => t.className)""")
        assert sticking_out == [], f"{url}: tables wider than their box at 800 px: {sticking_out}"
    finally:
        ctx.close()


# --- weights -----------------------------------------------------------------------------------------------

def test_kernels_show_values_enlarge_and_linked_units_carry_their_label(probe, e2e):
    from conftest import XSS_LABEL

    page = probe.page
    layer, index = e2e.labelled  # a labelled unit of the middle layer: its outputs' pages list it as an input
    down = e2e.layers[e2e.layers.index(layer) + 1]
    page.goto(unit_url(e2e, down, 0))
    page.locator("[data-testid=incoming] .conn").first.wait_for()
    conn = page.locator(f"[data-testid=incoming] .conn[data-conn-layer='{layer}'][data-conn-index='{index}']")
    if conn.count() == 0:
        page.get_by_role("button", name=re.compile("show all")).first.click()
    conn.wait_for()
    assert conn.get_by_test_id("conn-label").inner_text() == XSS_LABEL  # the consensus label, as text
    first_rect = conn.locator("svg.kernel rect").first
    assert re.match(r"w\[0,0\] = -?\d", first_rect.locator("title").text_content())
    assert conn.locator("svg.kernel").evaluate("el => el.getBoundingClientRect().width") >= 50
    conn.get_by_role("button", name=re.compile("enlarge the kernel")).click()
    big = page.get_by_test_id("kernel-large")
    big.wait_for()
    assert big.locator("svg").evaluate("el => el.getBoundingClientRect().width") >= 300
    assert big.locator("svg text").count() == conn.locator("svg.kernel rect").count()
    probe.shot("kernel")
    page.keyboard.press("Escape")
    assert probe.dialogs == [] and probe.console_errors == []


# --- compute form ------------------------------------------------------------------------------------------

def test_compute_form_estimates_cost_asks_before_a_big_run_and_warns_of_a_name_clash(probe, e2e):
    page = probe.page
    # the model's layers (as "Discover layers" answers) and one finished job to measure the speed from
    layers = {"name": "Big net", "input_size": 224, "class_count": None, "layers": [
        {"name": "layer1", "module_type": "Conv2d", "output_shape": [256, 56, 56], "channels": 256},
        {"name": "layer2", "module_type": "Conv2d", "output_shape": [256, 28, 28], "channels": 256}]}
    page.route("**/api/sources/layers", lambda route: route.fulfill(json=layers))
    real_jobs = httpx.get(f"{e2e.base}/api/jobs?limit=100").json()
    finished = {"id": 999, "status": "done", "stage": "done", "layer": None, "done": 1, "total": 1,
                "eta_seconds": None, "error": None, "run_id": 1, "model_slug": e2e.model, "created_by": None,
                "cancel_requested": False, "attempts": 1, "created_at": "2026-01-01T00:00:00Z",
                "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
                "config": {"model": {"kind": "demo"}, "dataset": {"kind": "concepts"}, "layers": [e2e.layers[1]],
                           "featurevis": {"steps": 100, "objectives": ["channel"]}},
                # 12 units x 1 render x 100 steps in 12 s: 10 ms per render-step
                "summary": {"layers": [e2e.layers[1]], "timings": {"featurevis": 12.0}}}
    page.route("**/api/jobs?limit=100", lambda route: route.fulfill(json=[finished, *real_jobs]))
    posted = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith("/api/jobs") and posted.append(r.url))
    page.goto("/compute/new")
    page.get_by_role("button", name="Discover layers").click()
    page.get_by_label("layer layer1").check()
    estimate = page.get_by_test_id("cost-estimate")
    # 256 units x 7 renders (channel, neuron, negative, 4 diverse) x 512 steps x 10 ms
    page.wait_for_function("() => document.querySelector('[data-testid=cost-estimate]').innerText.includes('917,504')")
    assert "≈ 2.5 h" in estimate.inner_text(), estimate.inner_text()
    page.get_by_role("button", name="Start", exact=True).click()
    confirm = page.get_by_test_id("confirm-start")
    confirm.wait_for()
    assert "about 2.5 h" in confirm.inner_text()
    confirm.get_by_role("button", name="Go back").click()
    assert posted == []
    # the model name of an existing model is flagged before Start
    page.get_by_label("Model name (slug)").fill(e2e.model)
    page.get_by_test_id("name-clash").wait_for()
    assert e2e.model in page.get_by_test_id("name-clash").inner_text()
    probe.shot("compute-form")
