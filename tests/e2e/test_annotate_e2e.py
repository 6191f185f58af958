"""Annotation end to end in headless Chromium, multi-user mode, two real servers (uvicorn):
sign in, label a unit (with HTML in it), find it by search, label from the queue with the keyboard, build a
three-unit circuit from the unit page, export it (graph JSON, checked against the schema) and the project,
then import the project into a fresh instance from its browser page and find everything there.

The data is the sample model of `circuitscope.annotate.sample` written straight into each database (no
compute run), so this runs in well under a minute. Screenshots: test-artifacts/e2e/annotate-*.png.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest

from conftest import ARTIFACTS, PageProbe
from support.app import build_app
from support.live_server import start_server
from support.paths import REPO

pytestmark = [pytest.mark.browser]

STATIC = REPO / "backend" / "circuitscope" / "api" / "static" / "index.html"
EVIL = '<img src=x onerror="window.__pwned=1">'


class Server:
    """A multi-user server on the sample model (support.app.build_app) with these users (name, role, password)."""

    def __init__(self, root: Path, name: str, users: list[tuple[str, str, str]]):
        from circuitscope.annotate import users as users_svc

        prepared = build_app(root / name)
        with prepared.db.session() as s:
            for user, role, password in users:
                users_svc.create_user(s, user, role, password)
        prepared.db.dispose()
        self.data_dir = prepared.settings.data_dir
        self.log = root / f"{name}.log"
        env = dict(os.environ, CIRCUITSCOPE_DATA_DIR=str(self.data_dir), CIRCUITSCOPE_LOCAL_USER="",
                   CIRCUITSCOPE_ANONYMOUS_READ="true", PYTHONUNBUFFERED="1")
        env.pop("CIRCUITSCOPE_DATABASE_URL", None)
        self.server = start_server(env, root, self.log, ready="/api/auth/me", what=f"server {name}")
        self.base = self.server.base
        me = httpx.get(self.base + "/api/auth/me").json()
        assert me["multi_user"] and me["user"] is None, me

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not STATIC.exists():
        pytest.skip("the frontend is not built (npm --prefix frontend run build)")
    root = tmp_path_factory.mktemp("annotate-e2e")
    src = Server(root, "src", [("alice", "annotator", "alice-pw"), ("vera", "viewer", "vera-pw")])
    fresh = None
    try:
        fresh = Server(root, "fresh", [("root", "admin", "root-pw")])
        yield src, fresh, root
    finally:
        src.stop()
        if fresh:
            fresh.stop()


def sign_in(page, name: str, password: str) -> None:
    page.goto("/")
    page.get_by_test_id("signin-link").click()
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("whoami").get_by_text(name).wait_for()


def test_label_search_circuit_export_import(browser, servers):
    src, fresh, root = servers
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=src.base, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    probe = PageProbe(page, "annotate")
    try:
        # 1. anonymous visitors read but get no editor; sign in
        page.goto("/models/toy/layers/conv1/units/0")
        page.get_by_test_id("annotation-panel").wait_for()
        assert page.get_by_role("button", name="Save label").count() == 0
        sign_in(page, "alice", "alice-pw")
        probe.shot("signed-in")

        # 2. label a unit (HTML in it must show as text)
        page.goto("/models/toy/layers/conv1/units/0")
        panel = page.get_by_test_id("annotation-panel")
        panel.get_by_label("label", exact=True).fill("diagonal red edge")
        panel.get_by_label("description").fill(f"fires on 45° red lines {EVIL}")
        panel.get_by_label("tags").fill("colour, edges")
        panel.get_by_label("status").select_option("confident")
        panel.get_by_role("button", name="Save label").click()
        page.get_by_test_id("consensus-label").get_by_text("diagonal red edge").wait_for()
        assert panel.locator(".label-list .desc").inner_text() == f"fires on 45° red lines {EVIL}"  # shown as text
        assert panel.locator(".label-list img").count() == 0
        panel.get_by_role("button", name="History").click()
        page.get_by_test_id("label-history").get_by_text("alice").first.wait_for()
        probe.shot("unit-labelled")

        # 3. find it by search
        page.goto("/search")
        page.get_by_label("search").fill("diagonal edge")
        page.keyboard.press("Enter")
        result = page.get_by_test_id("search-result")
        result.first.wait_for()
        assert result.count() == 1 and "conv1:0" in result.first.inner_text()
        probe.shot("search")
        result.first.click()
        page.wait_for_url(re.compile(r"/models/toy/layers/conv1/units/0$"))

        # 4. the queue: label two units of conv2 with the keyboard only
        page.goto("/queue/toy/conv2")
        page.get_by_test_id("queue-remaining").get_by_text("6 left").wait_for()
        box = page.get_by_label("queue label")
        box.fill("curve, left")
        box.press("Enter")
        page.get_by_test_id("queue-remaining").get_by_text("5 left").wait_for()
        page.keyboard.press("Escape")  # leave the field
        page.keyboard.press("n")       # skip one
        page.get_by_role("link", name="conv2:2").wait_for()
        page.keyboard.press("Escape")  # the new unit's field has focus: leave it, then l comes back to it
        page.keyboard.press("l")
        page.keyboard.type("curve, right")
        page.keyboard.press("Enter")
        page.get_by_test_id("queue-remaining").get_by_text("4 left").wait_for()
        probe.shot("queue")
        labelled = httpx.get(f"{src.base}/api/search?q=curve&model=toy").json()
        assert sorted(r["index"] for r in labelled["results"]) == [0, 2]

        # 5. a three-unit circuit, started from the unit page
        page.goto("/models/toy/layers/conv1/units/0")
        page.get_by_test_id("start-circuit").click()
        page.wait_for_url(re.compile(r"/circuits/\d+$"))
        page.get_by_test_id("suggestion").first.wait_for()
        page.get_by_role("button", name="add conv2:2").first.click()
        page.locator("[data-testid=circuit-nodes] tr").nth(1).wait_for()
        page.get_by_label("add unit").fill("block3.conv:2")
        page.get_by_role("button", name="Add unit").click()
        page.locator("[data-testid=circuit-nodes] tr").nth(2).wait_for()
        page.get_by_label("circuit name").fill("red edge circuit")
        page.get_by_label("claim").fill(f"red edges feed a curve {EVIL}")
        page.get_by_label("circuit status").select_option("supported")
        page.get_by_role("button", name="Save", exact=True).click()
        page.locator(".circuit-meta .muted", has_text="v4,").wait_for()
        page.wait_for_function("() => window.__circuitGraph && window.__circuitGraph.nodes().length === 3")
        graph = page.evaluate("() => ({nodes: window.__circuitGraph.nodes().map(n => n.id()),"
                              " edges: window.__circuitGraph.edges().map(e => [e.data('source'), e.data('target'), e.data('color')])})")
        assert sorted(graph["nodes"]) == ["block3.conv:2", "conv1:0", "conv2:2"]
        assert len(graph["edges"]) == 3  # conv1->conv2 direct, conv2->block3 direct, conv1->block3 expanded
        probe.shot("circuit")

        # 6. export the circuit (graph JSON, validated) and the project, from the download buttons
        with page.expect_download() as dl:
            page.get_by_test_id("export-graph-json").click()
        graph_file = root / "circuit.graph.json"
        dl.value.save_as(graph_file)
        from circuitscope.export.graph_json import validate_graph

        g = json.loads(graph_file.read_text())
        validate_graph(g)
        assert {n["clerp"] for n in g["nodes"]} >= {"diagonal red edge"}
        with page.expect_download() as dl:
            page.get_by_test_id("export-html").click()
        report = root / "report.html"
        dl.value.save_as(report)
        assert "<script" not in report.read_text().lower() and "data:image/png;base64" in report.read_text()
        page.goto("/exchange")
        with page.expect_download() as dl:
            page.get_by_test_id("export-project").click()
        project_file = root / "project.json"
        dl.value.save_as(project_file)
        project = json.loads(project_file.read_text())
        assert len(project["labels"]) == 3 and len(project["circuits"]) == 1

        # a viewer cannot write (the editor is not offered, and the API refuses)
        viewer = browser.new_context(base_url=src.base)
        vpage = viewer.new_page()
        sign_in(vpage, "vera", "vera-pw")
        vpage.goto("/models/toy/layers/conv1/units/0")
        vpage.get_by_test_id("annotation-panel").get_by_text("labelling needs the annotator role").wait_for()
        r = vpage.request.put(f"{src.base}/api/labels/toy/conv1/0", data={"label": "x"})
        assert r.status == 403
        viewer.close()

        # 7. import into a fresh instance from its browser page
        fctx = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=fresh.base)
        fpage = fctx.new_page()
        fpage.set_default_timeout(20_000)
        fprobe = PageProbe(fpage, "annotate-fresh")
        sign_in(fpage, "root", "root-pw")
        fpage.goto("/exchange")
        bad = root / "bad.json"
        bad.write_text(json.dumps({**project, "circuits": [{**project["circuits"][0], "author": "nobody"}]}))
        fpage.get_by_label("project file").set_input_files(str(bad))
        fpage.get_by_test_id("import-error").get_by_text("circuits[0].author").wait_for()
        assert httpx.get(f"{fresh.base}/api/circuits").json() == []  # nothing written
        fpage.get_by_label("project file").set_input_files(str(project_file))
        fpage.get_by_test_id("import-result").get_by_text("Imported 3 labels, 0 families, 1 circuits").wait_for()
        fprobe.shot("imported")
        fpage.goto("/circuits")
        fpage.get_by_role("link", name="red edge circuit").click()
        fpage.wait_for_function("() => window.__circuitGraph && window.__circuitGraph.nodes().length === 3")
        assert fpage.locator("[data-testid=circuit-nodes] tr").count() == 3
        fpage.get_by_text(f"red edges feed a curve {EVIL}").first.wait_for()
        fprobe.shot("circuit")
        fpage.goto("/search?q=diagonal")
        fpage.get_by_test_id("search-result").first.wait_for()
        again = httpx.get(f"{fresh.base}/api/export/project").json()
        for doc in (again, project):
            doc.pop("exported_at")
        assert again == project  # the fresh instance reproduces everything
        for p in (probe, fprobe):
            assert p.dialogs == [] and p.page.evaluate("() => window.__pwned") is None
            assert [e for e in p.console_errors if not re.search(r"status of (401|403|422)", e)] == []  # refusals we provoked
        fctx.close()
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "annotate-failure.png"), full_page=True)
        raise
    finally:
        ctx.close()


def test_sessions_are_listed_and_revocable_from_the_account_page(browser, servers):
    """Issue 8: sessions listed beside tokens; signing out another browser ends that browser's session."""
    src, _fresh, _root = servers
    ctxs = [browser.new_context(viewport={"width": w, "height": 900}, base_url=src.base) for w in (1400, 800)]
    try:
        pages = [c.new_page() for c in ctxs]
        for p in pages:
            p.set_default_timeout(20_000)
        sign_in(pages[0], "vera", "vera-pw")
        probe = PageProbe(pages[0], "sessions")
        pages[0].goto("/account")
        table = pages[0].get_by_test_id("sessions")
        table.wait_for()
        others = pages[0].get_by_role("button", name="Sign out all other sessions")
        if others.count():  # sessions of vera's from earlier tests in this module
            others.click()
            pages[0].wait_for_function("document.querySelectorAll('[data-testid=sessions] tbody tr').length === 1")
        sign_in(pages[1], "vera", "vera-pw")
        pages[0].reload()
        table.wait_for()
        assert table.locator("tbody tr").count() == 2
        assert table.get_by_text("this browser").count() == 1
        probe.shot("two-browsers-1400")
        pages[1].goto("/account")
        pages[1].get_by_test_id("sessions").wait_for()
        PageProbe(pages[1], "sessions").shot("account-800")
        assert pages[1].evaluate("document.documentElement.scrollWidth") <= 800
        table.get_by_role("button", name="Sign out").click()
        pages[0].wait_for_function("document.querySelectorAll('[data-testid=sessions] tbody tr').length === 1")
        me = pages[1].evaluate("fetch('/api/auth/me').then(r => r.json())")
        assert me["user"] is None, me  # the other browser is signed out
        assert not probe.console_errors, probe.console_errors
    finally:
        for c in ctxs:
            c.close()
