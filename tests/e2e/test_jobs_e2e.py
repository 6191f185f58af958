"""End to end in headless Chromium: bring a model file and an image folder, start a computation from the
browser, watch it finish, follow a layer link; cancel a second one; errors (403, 422, unknown layer) shown
in the form. Runs the real server (uvicorn) and a real worker process on a temporary data dir.

Needs the built frontend (npm --prefix frontend run build); Chromium comes from the `browser` fixture of
tests/e2e/conftest.py. Screenshots go to test-artifacts/jobs-*.png.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.live_server import start_server, stop_process
from support.paths import REPO, TINY_MODELS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STATIC = REPO / "backend" / "circuitscope" / "api" / "static" / "index.html"
ARTIFACTS = REPO / "test-artifacts"


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _make_images(folder: Path) -> None:
    from PIL import Image, ImageDraw

    for cls, colour in (("reds", (200, 30, 30)), ("blues", (30, 30, 200))):
        (folder / cls).mkdir(parents=True)
        for i in range(4):
            img = Image.new("RGB", (40, 40), (240, 240, 240))
            ImageDraw.Draw(img).ellipse((4 + i * 3, 4, 30 + i * 2, 34), fill=colour)
            img.save(folder / cls / f"{cls[:-1]}_{i}.png")
    (folder / "blues" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """uvicorn + `circuitscope worker` on a fresh data dir, with a root holding a model file and images."""
    if not STATIC.exists():
        pytest.skip("frontend not built: npm --prefix frontend ci && npm --prefix frontend run build")
    pytest.importorskip("playwright.sync_api")
    base = tmp_path_factory.mktemp("jobs-e2e")
    root, data = base / "root", base / "data"
    root.mkdir()
    data.mkdir()
    shutil.copy(TINY_MODELS, root / "tiny.py")
    (root / "notes.txt").write_text("not shown by the file browser")
    _make_images(root / "images")
    env = {**os.environ, "CIRCUITSCOPE_DATA_DIR": str(data), "CIRCUITSCOPE_ALLOWED_ROOTS": json.dumps([str(root)]),
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("CIRCUITSCOPE_DATABASE_URL", None)
    logs = base / "logs"
    logs.mkdir()
    worker_log = open(logs / "worker.log", "w")
    server = None
    worker = None
    try:
        server = start_server(env, base, logs / "server.log", ready="/api/jobs", timeout=90, log_level=None)
        url = server.base
        # the worker starts after the server has migrated the database
        worker = subprocess.Popen([sys.executable, "-m", "circuitscope.cli", "worker", "--poll", "0.5"], cwd=base,
                                  env=env, stdout=worker_log, stderr=subprocess.STDOUT)
        yield {"url": url, "root": root.resolve(), "data": data, "logs": logs, "worker": worker}
    finally:
        stop_process(worker, timeout=15)
        if server is not None:
            server.stop(timeout=15)
        worker_log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        for name in ("server.log", "worker.log"):
            shutil.copy(logs / name, ARTIFACTS / f"jobs-e2e-{name}")


@pytest.fixture
def page(browser, request):  # `browser`: tests/e2e/conftest.py
    """A fresh page; on failure its screenshot is saved as test-artifacts/jobs-FAILED-<test>.png."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    failed_before = request.session.testsfailed
    yield pg
    if request.session.testsfailed > failed_before:  # the call report is logged before teardown
        try:
            shot(pg, f"FAILED-{request.node.name}")
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
    pg.close()


class Console:
    """Console errors and uncaught exceptions of a page; `allow` marks messages expected from now on."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", lambda m: m.type == "error" and self._add(m.text))
        page.on("pageerror", lambda e: self._add(f"uncaught: {e}"))

    def _add(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.errors.append(text)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"jobs-{name}.png"), full_page=True)


def _worker_log(stack) -> str:
    return (stack["logs"] / "worker.log").read_text()[-4000:]


def _wait_status(page, stack, statuses: tuple[str, ...], timeout_s: float, name: str) -> str:
    deadline = time.monotonic() + timeout_s
    seen = set()
    while time.monotonic() < deadline:
        status = page.locator(".job-page").get_attribute("data-status")
        progress = page.locator("[data-testid=job-progress]")
        if progress.count() and status == "running" and "progress" not in seen:
            seen.add("progress")
            shot(page, f"{name}-running")
        if status in statuses:
            return status
        time.sleep(0.5)
    shot(page, f"{name}-timeout")
    raise AssertionError(f"job did not reach {statuses} in {timeout_s} s (status {status}); worker log:\n"
                         f"{_worker_log(stack)}")


def _fill_form(page, stack, *, steps: str, slug: str) -> None:
    root = stack["root"]
    page.get_by_label("Python factory").check()
    field = page.locator("[data-field='model.target']")
    field.get_by_role("button", name="Browse…").click()
    browser_panel = field.locator(".file-browser")
    browser_panel.get_by_role("button", name="tiny.py").click()  # .py files only: notes.txt and images are not shown
    assert field.locator("input").input_value() == str(root / "tiny.py")
    page.get_by_role("button", name=re.compile("Input size and normalization")).click()
    page.get_by_label("Input size (px)").fill("32")

    page.get_by_role("button", name="Discover layers").click()
    page.get_by_test_id("discover-result").wait_for(timeout=60_000)
    table = page.locator(".layer-checklist")
    for name in ("conv1", "conv2", "fc"):
        assert table.get_by_text(name, exact=True).count() == 1
    page.get_by_label("Filter layers").fill("conv")
    assert table.locator("tbody tr").count() == 2
    page.get_by_label("layer conv2").check()
    page.get_by_label("Filter layers").fill("")

    page.get_by_label("Image folder").check()
    ds = page.locator("[data-field='dataset.root']")
    ds.get_by_role("button", name="Browse…").click()
    ds.locator(".file-browser").get_by_role("button", name="📁 images/").click()
    ds.locator(".file-browser .fb-path").filter(has_text=str(root / "images")).wait_for()
    ds.get_by_role("button", name="Use this folder").click()
    assert ds.locator("input").input_value() == str(root / "images")
    page.get_by_role("button", name="Check", exact=True).click()
    check = page.get_by_test_id("dataset-check")
    check.wait_for(timeout=60_000)
    assert "broken.png" in check.inner_text()

    page.get_by_label("k (top and bottom per unit)").fill("3")
    page.get_by_label("Batch size").fill("4")
    page.get_by_label("Steps", exact=True).fill(steps)
    page.get_by_label("Size (px)", exact=True).fill("32")
    for objective in ("neuron", "negative", "diversity"):
        page.get_by_label(objective, exact=True).uncheck()
    page.get_by_label("Model name (slug)").fill(slug)


def test_bring_a_model_and_images_run_and_watch(stack, page):
    url, root = stack["url"], stack["root"]
    console = Console(page)
    page.goto(f"{url}/jobs")
    page.get_by_text("No computations yet").wait_for()
    page.get_by_role("link", name="New computation").click()
    page.wait_for_url(re.compile(r"/compute/new$"))
    shot(page, "01-new-empty")

    _fill_form(page, stack, steps="8", slug="tiny-e2e")
    preview = page.get_by_test_id("run-preview").inner_text()
    assert 'target = "' + str(root / "tiny.py") + ':build"' in preview
    assert "steps = 8" in preview and 'layers = ["conv2"]' in preview and 'model_slug = "tiny-e2e"' in preview
    shot(page, "02-new-filled")

    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=30_000)
    job_id = int(page.url.rsplit("/", 1)[1])
    page.locator(".job-page").wait_for()
    status = _wait_status(page, stack, ("done", "failed", "cancelled"), 300, "03-job")
    shot(page, "04-job-finished")
    assert status == "done", page.locator(".error-box").all_inner_texts()

    skipped = page.get_by_test_id("skipped-images")
    assert "broken.png" in skipped.inner_text()
    run_description = page.locator("pre.run-description").inner_text()
    assert "steps = 8" in run_description
    link = page.locator(".job-layer-table").get_by_role("link", name="conv2")
    link.wait_for(timeout=20_000)
    link.click()
    page.wait_for_url(re.compile(r"/models/tiny-e2e/layers/conv2$"))
    page.locator(".unit-thumb img").nth(5).wait_for()  # the 6 units of conv2, with their feature visualizations
    page.wait_for_load_state("networkidle")
    shot(page, "05-layer-page")

    # A second, longer job (many generated images), started with "Run again with changes", then cancelled.
    page.goto(f"{url}/jobs/{job_id}")
    page.get_by_role("button", name="Run again with changes").click()
    page.wait_for_url(re.compile(r"/compute/new$"))
    assert page.get_by_label("Steps", exact=True).input_value() == "8"
    assert page.locator("[data-field='model.target'] input").input_value() == str(root / "tiny.py")
    page.get_by_label("Generated concepts").check()
    page.get_by_label("Number of images").fill("50000")
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=30_000)
    second = int(page.url.rsplit("/", 1)[1])
    assert second != job_id
    # cancel it while the worker is in the middle of the dataset pass (a running job, not a queued one)
    progress = page.get_by_test_id("job-progress")
    progress.filter(has_text="dataset examples").wait_for(timeout=120_000)
    assert page.locator(".job-page").get_attribute("data-status") == "running"
    shot(page, "06-second-before-cancel")
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("button", name="Cancel requested…").wait_for()
    status = _wait_status(page, stack, ("cancelled", "done", "failed"), 120, "06-second")
    shot(page, "07-second-cancelled")
    assert status == "cancelled", page.locator(".error-box").all_inner_texts()
    assert "finished layers are kept" in page.get_by_test_id("job-cancelled").inner_text()

    page.goto(f"{url}/jobs")
    rows = page.locator("tr.job-row")
    rows.first.wait_for()
    assert rows.count() == 2
    assert "cancelled" in page.locator(f"tr[data-job='{second}']").inner_text()
    assert "done" in page.locator(f"tr[data-job='{job_id}']").inner_text()
    shot(page, "08-jobs-list")
    assert console.errors == []


def test_errors_are_shown_in_the_form(stack, page):
    url = stack["url"]
    console = Console(page)
    page.goto(f"{url}/compute/new")
    console.allow(r"status of (403|422)")  # the refusals below are expected network errors

    # 403: a model file outside the allowed folders
    page.get_by_label("Checkpoint file").check()
    page.locator("[data-field='model.path'] input").fill("/etc/passwd")
    page.get_by_role("button", name="Discover layers").click()
    err = page.locator("#model .error-box")
    err.wait_for()
    assert "File not allowed" in err.inner_text() and "outside the allowed folders" in err.inner_text()

    # 403: browsing above the root
    field = page.locator("[data-field='model.path']")
    field.get_by_role("button", name="Browse…").click()
    panel = field.locator(".file-browser")
    panel.locator(".fb-path").filter(has_text=str(stack["root"])).wait_for()  # /etc refused: it opens at the root
    panel.get_by_label("Folder path").fill("../..")
    panel.get_by_role("button", name="Go").click()
    panel.locator(".error-box").filter(has_text="outside the allowed folders").wait_for()
    panel.get_by_role("button", name="Close").click()

    # 422: a factory function that does not exist (the message names the file and the function)
    page.get_by_label("Python factory").check()
    page.locator("[data-field='model.target'] input").fill(str(stack["root"] / "tiny.py"))
    page.get_by_label("Function", exact=True).fill("biuld")
    page.get_by_role("button", name="Discover layers").click()
    err = page.locator("#model .error-box")
    err.filter(has_text="biuld").wait_for()
    assert "tiny.py" in err.inner_text() and "HTTP 422" in err.inner_text()

    # unknown layer (checked against the discovered list before anything is queued)
    page.get_by_label("Function", exact=True).fill("build")
    page.get_by_role("button", name="Discover layers").click()
    page.get_by_test_id("discover-result").wait_for(timeout=60_000)
    page.get_by_label("Add a layer name or pattern").fill("conv9")
    page.get_by_role("button", name="Add", exact=True).click()
    problem = page.locator("#layers .field-problem")
    assert "Unknown layer" in problem.inner_text() and "conv9" in problem.inner_text()
    page.get_by_role("button", name="remove conv9").click()
    assert page.locator("#layers .field-problem").count() == 0

    # 403 on Start: an image folder outside the roots
    page.get_by_label("layer conv1").check()
    page.get_by_label("Image folder").check()
    page.locator("[data-field='dataset.root'] input").fill("/etc")
    page.get_by_label("Device").fill("gpu")
    page.get_by_role("button", name="Start", exact=True).click()
    assert "device" in page.get_by_test_id("form-problems").inner_text()  # checked before sending
    page.get_by_label("Device").fill("cpu")
    page.get_by_role("button", name="Start", exact=True).click()
    err = page.locator(".start-row ~ .error-box")
    err.wait_for()
    assert "Not allowed" in err.inner_text() and "dataset path /etc" in err.inner_text()
    assert page.locator("#dataset .error-box").count() == 1
    shot(page, "09-form-errors")
    assert re.search(r"/compute/new$", page.url)
    assert console.errors == []
