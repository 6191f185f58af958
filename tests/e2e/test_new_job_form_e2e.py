"""The "New computation" form (frontend/src/features/jobs/NewJobPage.tsx and newJob/) in headless Chromium:
the exact JSON it sends for Discover, Check and Start, its validation messages (nothing is sent while a field
is wrong), the stale-check notice, and one POST however Start is clicked. The server's answers for these three
requests are stubbed (page.route), so no model is loaded and no job is queued; the rest is the real server of
tests/e2e/conftest.py. Screenshots: test-artifacts/newjob/form-*.png at 1400 and 800 px.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "newjob"

LAYERS = {"name": "ConceptNet", "input_size": 64, "class_count": 10, "layers": [
    {"name": "conv1", "module_type": "Conv2d", "output_shape": [8, 64, 64], "channels": 8},
    {"name": "relu1", "module_type": "ReLU", "output_shape": [8, 64, 64], "channels": 8},
    {"name": "conv2", "module_type": "Conv2d", "output_shape": [16, 32, 32], "channels": 16},
    {"name": "fc", "module_type": "Linear", "output_shape": [10], "channels": 10}]}
CHECK = {"num_images": 500, "classes": ["circle", "line"],
         "unreadable": [{"ref": "generated/17", "reason": "stubbed for the test"}]}


class Server:
    """Stubs Discover, Check and Start, and records the JSON each POST sent (Start is refused with a 422, so the
    form stays on screen)."""

    def __init__(self, page):
        self.posts: list[tuple[str, dict]] = []
        page.route(re.compile(r"/api/sources/layers$"), lambda r: self._answer(r, "layers", 200, LAYERS))
        page.route(re.compile(r"/api/sources/dataset$"), lambda r: self._answer(r, "dataset", 200, CHECK))
        page.route(re.compile(r"/api/jobs(\?[^/]*)?$"), lambda r: self._answer(
            r, "jobs", 422, {"detail": "refused by the test"}) if r.request.method == "POST" else r.continue_())

    def _answer(self, route, what: str, status: int, body: dict) -> None:
        self.posts.append((what, json.loads(route.request.post_data or "null")))
        route.fulfill(status=status, json=body)

    def sent(self, what: str) -> list[dict]:
        return [body for kind, body in self.posts if kind == what]


def _open(browser, e2e, width: int):
    context = browser.new_context(viewport={"width": width, "height": 1000}, base_url=e2e.base)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and "422" not in m.text and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    server = Server(page)
    page.goto("/compute/new")
    page.get_by_test_id("run-preview").wait_for()
    return context, page, server, errors


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the sticky bar mid-page
    page.screenshot(path=str(ARTIFACTS / f"form-{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1400, 800])
def test_the_form_sends_the_run_description_it_shows(browser, e2e, width):
    context, page, server, errors = _open(browser, e2e, width)
    try:
        page.get_by_role("button", name="Discover layers").click()
        page.get_by_test_id("discover-result").wait_for()
        assert server.sent("layers") == [{"model": {"kind": "demo"}}]
        page.get_by_label("layer conv1").check()
        page.get_by_label("Add a layer name or pattern").fill("fc*")
        page.get_by_role("button", name="Add", exact=True).click()
        # fc is selected by the pattern: its own checkbox is disabled, and the units count it
        assert page.get_by_label("layer fc").is_disabled()
        assert "2 layers selected · 18 units" in page.locator(".layer-tools").inner_text()

        page.get_by_label("Number of images").fill("500")
        page.get_by_label("Seed").fill("2")
        page.get_by_role("button", name="Check", exact=True).click()
        check = page.get_by_test_id("dataset-check")
        check.wait_for()
        assert server.sent("dataset") == [{"dataset": {"kind": "concepts", "size": 500, "seed": 2}}]
        assert "500 images in 2 classes" in check.inner_text() and "generated/17" in check.inner_text()
        _shot(page, f"checked-{width}")

        page.get_by_label("k (top and bottom per unit)").fill("3")
        page.get_by_label("Steps", exact=True).fill("16")
        page.get_by_label("neuron", exact=True).uncheck()
        page.get_by_label("Weights and connections").uncheck()
        page.get_by_label("Engine").select_option("ray")
        page.get_by_label("Device").fill("cuda:0")
        page.get_by_label("Model name (slug)").fill("form-test")
        page.get_by_role("button", name="Start", exact=True).dblclick()
        page.locator(".start-row ~ .error-box").filter(has_text="refused by the test").wait_for()
        page.wait_for_timeout(300)
        assert server.sent("jobs") == [{
            "model": {"kind": "demo"},
            "dataset": {"kind": "concepts", "size": 500, "seed": 2},
            "layers": ["conv1", "fc*"],
            "model_slug": "form-test",
            "device": "cuda:0",
            "engine": "ray",
            "examples": {"enabled": True, "k": 3, "batch_size": 64},
            "featurevis": {"enabled": True, "steps": 16, "objectives": ["channel", "negative", "diversity"]},
            "weights": {"enabled": False},
        }], server.posts  # once, although Start was double-clicked
        assert "The server refused this run description" in page.locator(".start-row ~ .error-box").inner_text()
        preview = page.get_by_test_id("run-preview").inner_text()
        assert 'layers = ["conv1", "fc*"]' in preview and 'engine = "ray"' in preview

        page.get_by_label("Number of images").fill("600")
        page.get_by_text("The images changed since the check.").wait_for()
        assert page.get_by_test_id("dataset-check").count() == 0
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_wrong_fields_are_named_and_nothing_is_sent(browser, e2e, width):
    context, page, server, errors = _open(browser, e2e, width)
    try:
        page.get_by_role("button", name=re.compile("Input size and normalization")).click()
        page.get_by_label("Input size (px)").fill("3")
        page.get_by_label("Std").fill("0, 1, 1")
        page.get_by_role("button", name="Discover layers").click()  # a wrong model field: not sent
        page.get_by_label("Number of images").fill("abc")
        page.get_by_role("button", name="Check", exact=True).click()  # a wrong dataset field: not sent
        page.get_by_label("k (top and bottom per unit)").fill("0")
        for objective in ("channel", "neuron", "negative", "diversity"):
            page.get_by_label(objective, exact=True).uncheck()
        page.get_by_label("Device").fill("tpu")
        page.get_by_label("Model name (slug)").fill("Bad Slug")
        page.get_by_role("button", name="Start", exact=True).click()

        expected = {
            "model.input_size": "a whole number from 8 to 4096",
            "model.std": "std must be positive",
            "dataset.size": "a whole number from 1 to 10000000",
            "examples.k": "a whole number from 1 to 200",
            "device": "cpu, cuda, cuda:N or mps",
            "model_slug": "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        }
        for field, message in expected.items():
            assert page.locator(f"[data-field='{field}'] .field-problem").inner_text() == message, field
            assert page.locator(f"[data-field='{field}'] input").get_attribute("aria-invalid") == "true", field
        assert page.locator("[data-field='featurevis.objectives'] .field-problem").inner_text() == \
            "pick at least one objective"
        assert page.locator("#layers .field-problem").inner_text() == \
            "choose at least one layer (Discover layers, or type a name or pattern)"
        summary = page.get_by_test_id("form-problems").inner_text()
        assert summary.startswith("Fix first: model.input_size: a whole number from 8 to 4096;")
        assert "device: cpu, cuda, cuda:N or mps" in summary
        assert server.posts == []
        _shot(page, f"validation-{width}")

        # fixing a field takes its message away at once
        page.get_by_label("Device").fill("cpu")
        assert page.locator("[data-field='device'] .field-problem").count() == 0
        assert "device:" not in page.get_by_test_id("form-problems").inner_text()
        assert errors == []
    finally:
        context.close()
