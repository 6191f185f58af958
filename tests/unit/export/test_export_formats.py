"""Exports and imports: graph JSON (validated against the schema written from the format), networkx
node-link and GraphML (read back by networkx), labels CSV/JSON, the offline HTML report, and the full
project export -> import into a fresh database -> export round trip, with malformed imports refused whole."""
from __future__ import annotations

import copy
import csv
import io
import json
import re

import jsonschema
import networkx as nx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from circuitscope.annotate import users as users_svc
from circuitscope.export.graph_json import graph_schema, validate_graph
from circuitscope.store import Database
from circuitscope.store.tables.annotation import (
    Circuit,
    CircuitEdge,
    CircuitRevision,
    Family,
    Label,
    LabelRevision,
    User,
)

EVIL = '<script>alert("pwned")</script>'


def token(db: Database, name: str, role: str) -> dict:
    with db.session() as s:
        u = users_svc.get_user(s, name) or users_svc.create_user(s, name, role)
        return {"Authorization": f"Bearer {users_svc.create_token(s, u)[1]}"}


def populate(client: TestClient, db: Database) -> int:
    """Labels by three people with history (incl. a withdrawn one), two families, a circuit with supernodes,
    a pinned node, a note, and a second circuit. Returns the main circuit's id."""
    a, b, adm = token(db, "alice", "annotator"), token(db, "bob", "annotator"), token(db, "ada", "admin")

    def label(h, unit, text, version=None, **kw):
        r = client.put(f"/api/labels/toy/{unit}", json={"label": text, "version": version, **kw}, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["mine"]

    l1 = label(a, "conv1/0", "red stripes", tags=["colour", "stripes"], confidence=0.7)
    label(a, "conv1/0", "red diagonal stripes", version=l1["version"], status="confident", description="45°",
          tags=["colour", "stripes"])
    label(b, "conv1/0", "red stripes", confidence=0.4)
    label(a, "conv2/1", EVIL, description="html must stay text")
    l4 = label(b, "block3.conv/2", "curve")
    assert client.delete(f"/api/labels-by-id/{l4['id']}?version=1", headers=b).status_code == 200
    label(a, "block3.conv/2", "curve =SUM(A1)", tags=["=cmd"])
    client.patch(f"/api/labels-by-id/{l1['id']}", json={"status": "disputed", "version": 2}, headers=adm)
    fam = client.post("/api/families", json={"model": "toy", "name": "Gabor filters", "comment": "edges",
                                             "units": [{"layer": "conv1", "index": 0}, {"layer": "conv1", "index": 1}]},
                      headers=a).json()
    client.post(f"/api/families/{fam['id']}/members", json={"version": 1, "add": [{"layer": "conv2", "index": 3}]},
                headers=b)
    client.post("/api/families", json={"model": "toy", "name": "colour contrast", "color": "#123456"}, headers=b)
    c = client.post("/api/circuits", json={"model": "toy", "name": "red curve", "claim": f"red + edges = curve {EVIL}",
                                           "units": [{"layer": "conv1", "index": 0}, {"layer": "conv2", "index": 1}]},
                    headers=a).json()
    c = client.post(f"/api/circuits/{c['id']}/nodes", json={"version": 1, "units": [{"layer": "block3.conv", "index": 2}]},
                    headers=b).json()
    c = client.patch(f"/api/circuits/{c['id']}", json={"version": 2, "status": "supported", "evidence": "ablation",
                                                       "supernodes": [{"name": "inputs", "nodes": ["conv1:0", "conv2:1"]}]},
                     headers=a).json()
    c = client.patch(f"/api/circuits/{c['id']}/nodes/conv1:0", json={"version": 3, "pinned": True, "note": "start"},
                     headers=a).json()
    client.post("/api/circuits", json={"model": "toy", "name": "second", "units": [{"layer": "conv2", "index": 5}]},
                headers=b)
    return c["id"]


@pytest.fixture
def populated(make_app):
    env = make_app("src", local_user=None)
    client, db = env.client(), env.db
    cid = populate(client, db)
    yield client, db, cid
    db.dispose()


# --- graph JSON ------------------------------------------------------------------------------------

def test_graph_json_matches_schema_and_content(populated):
    client, _, cid = populated
    r = client.get(f"/api/export/circuits/{cid}?format=graph-json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    g = r.json()
    jsonschema.Draft202012Validator(graph_schema()).validate(g)
    assert {n["layer_name"] for n in g["nodes"]} == {"conv1", "conv2", "block3.conv"}
    by_unit = {(n["layer_name"], n["unit_index"]): n for n in g["nodes"]}
    assert by_unit[("conv1", 0)]["clerp"].startswith("red")
    assert by_unit[("conv2", 1)]["clerp"] == EVIL  # JSON carries text as is
    assert g["qParams"]["pinnedIds"] == [by_unit[("conv1", 0)]["node_id"]]
    assert g["qParams"]["supernodes"] == [["inputs", by_unit[("conv1", 0)]["node_id"], by_unit[("conv2", 1)]["node_id"]]]
    ids = {n["node_id"] for n in g["nodes"]}
    assert len(g["links"]) == 3 and all(l["source"] in ids and l["target"] in ids for l in g["links"])
    assert all(isinstance(l["weight"], float) for l in g["links"])
    assert g["metadata"]["scan"] == "toy" and g["metadata"]["info"]["status"] == "supported"


@pytest.mark.parametrize("breakage,where", [
    (lambda g: g.pop("links"), "links"),
    (lambda g: g["nodes"][0].pop("clerp"), "nodes[0]"),
    (lambda g: g["links"][0].update(weight="strong"), "links[0].weight"),
    (lambda g: g["qParams"].update(supernodes=[[1, "a"]]), "qParams.supernodes[0][0]"),
    (lambda g: g["nodes"][1].update(ctx_idx=-1), "nodes[1].ctx_idx"),
])
def test_graph_schema_rejects_malformed(populated, breakage, where):
    client, _, cid = populated
    g = client.get(f"/api/export/circuits/{cid}?format=graph-json").json()
    validate_graph(g)
    breakage(g)
    with pytest.raises(ValueError) as e:
        validate_graph(g)
    assert str(e.value).startswith(where) or where in str(e.value)


def test_graph_json_imports_into_a_fresh_instance(populated, make_app):
    client, _, cid = populated
    g = client.get(f"/api/export/circuits/{cid}?format=graph-json").json()
    g["links"].append({"source": g["nodes"][2]["node_id"], "target": g["nodes"][0]["node_id"], "weight": -0.5})
    env = make_app("fresh", local_user=None)
    fresh, fdb = env.client(), env.db
    r = fresh.post("/api/import/circuit", json=g, headers=token(fdb, "zoe", "annotator"))
    assert r.status_code == 201, r.text
    c = r.json()
    orig = client.get(f"/api/circuits/{cid}").json()
    assert sorted(n["id"] for n in c["nodes"]) == sorted(n["id"] for n in orig["nodes"])
    assert c["supernodes"] == orig["supernodes"] and c["status"] == "supported" and c["claim"] == orig["claim"]
    assert [n["id"] for n in c["nodes"] if n["pinned"]] == ["conv1:0"]
    derived = {(e["source"], e["target"], e["weight"]) for e in orig["edges"]}
    assert derived <= {(e["source"], e["target"], e["weight"]) for e in c["edges"]}
    manual = [e for e in c["edges"] if e["kind"] == "manual"]
    assert len(manual) == 1 and manual[0]["weight"] == -0.5
    # bad graph JSON: refused, names the problem, writes nothing
    bad = copy.deepcopy(g)
    bad["links"][0]["target"] = "nope"
    r = fresh.post("/api/import/circuit", json=bad, headers=token(fdb, "zoe", "annotator"))
    assert r.status_code == 422 and "links[0].target" in r.json()["detail"]
    with fdb.session() as s:
        assert s.scalar(select(func.count()).select_from(Circuit)) == 1
    fdb.dispose()


# --- networkx --------------------------------------------------------------------------------------

def test_node_link_and_graphml_read_back_by_networkx(populated):
    client, _, cid = populated
    orig = client.get(f"/api/circuits/{cid}").json()
    nl = client.get(f"/api/export/circuits/{cid}?format=node-link").json()
    g1 = nx.node_link_graph(nl, edges="links")
    gm = client.get(f"/api/export/circuits/{cid}?format=graphml")
    assert gm.headers["content-type"].startswith("application/graphml+xml")
    g2 = nx.read_graphml(io.BytesIO(gm.content))
    for g in (g1, g2):
        assert g.is_directed()
        assert set(g.nodes) == {n["id"] for n in orig["nodes"]}
        assert {(u, v): d["weight"] for u, v, d in g.edges(data=True)} == \
            {(e["source"], e["target"]): e["weight"] for e in orig["edges"]}
        assert g.nodes["conv2:1"]["label"] == EVIL
        assert g.nodes["conv1:0"]["supernodes"] == "inputs" and g.nodes["conv1:0"]["pinned"] in (True, "True")
        assert g.graph["status"] == "supported"


# --- labels ----------------------------------------------------------------------------------------

def test_labels_csv_and_json(populated):
    client, _, _ = populated
    r = client.get("/api/export/labels/toy?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {(x["layer"], x["unit_index"], x["annotator"]) for x in rows} == {
        ("conv1", "0", "alice"), ("conv1", "0", "bob"), ("conv2", "1", "alice"), ("block3.conv", "2", "alice")}
    first = next(x for x in rows if x["annotator"] == "alice" and x["layer"] == "conv1")
    assert first["label"] == "red diagonal stripes" and first["tags"] == "colour;stripes" and first["status"] == "disputed"
    assert first["consensus_label"] and first["version"] == "3"
    formula = next(x for x in rows if x["layer"] == "block3.conv")
    assert formula["label"] == "curve =SUM(A1)" and formula["tags"] == "'=cmd"  # formula guard on leading '='
    j = client.get("/api/export/labels/toy?format=json").json()
    assert [u["layer"] for u in j["units"]] == ["conv1", "conv2", "block3.conv"]  # model order
    assert len(j["units"][0]["labels"]) == 2 and j["units"][0]["consensus"]["n_annotators"] == 2
    assert client.get("/api/export/labels/nomodel").status_code == 404


# --- HTML report -----------------------------------------------------------------------------------

def test_html_report_is_self_contained_and_escaped(populated):
    client, _, cid = populated
    r = client.get(f"/api/export/circuits/{cid}?format=html")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('.html"')
    html = r.text
    assert "<script" not in html.lower()  # no script at all, user text escaped
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs)  # every image embedded; no network
    assert html.count("data:image/png;base64,") >= 3
    assert "red curve" in html and "supported" in html and "inputs" in html


# --- full project round trip -----------------------------------------------------------------------

def strip(doc: dict) -> dict:
    doc = dict(doc)
    doc.pop("exported_at")
    return doc


def test_project_round_trip_reproduces_everything(make_app, db_url):
    env = make_app("src", local_user=None)
    client, db = env.client(), env.db
    populate(client, db)
    admin = token(db, "ada", "admin")
    exported = client.get("/api/export/project", headers=admin).json()
    assert {u["name"] for u in exported["users"]} == {"alice", "bob", "ada"}
    assert len(exported["labels"]) == 5 and len(exported["families"]) == 2 and len(exported["circuits"]) == 2
    withdrawn = next(l for l in exported["labels"] if l["deleted"])
    assert [h["action"] for h in withdrawn["history"]] == ["create", "delete"]

    env = make_app("dst", db_url=db_url, local_user=None)
    fresh, fdb = env.client(), env.db
    fadmin = token(fdb, "root", "admin")
    r = fresh.post("/api/import/project", json=exported, headers=fadmin)
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == 5 and r.json()["warnings"] == []
    again = fresh.get("/api/export/project", headers=fadmin).json()
    assert strip(again) == strip(exported)
    # the imported data works: history, consensus, circuits with edges, roles
    state = fresh.get("/api/labels/toy/conv1/0").json()
    assert state["consensus"]["n_annotators"] == 2
    hist = fresh.get("/api/labels/toy/conv1/0/history").json()
    assert [h["editor"] for h in hist] == ["ada", "bob", "alice", "alice"]
    circ = next(c for c in fresh.get("/api/circuits").json() if c["name"] == "red curve")
    assert fresh.get(f"/api/circuits/{circ['id']}").json()["n_edges"] == 3
    with fdb.session() as s:
        assert s.scalar(select(User.role).where(User.name == "alice")) == "annotator"
    # importing the same document twice is refused, and writes nothing
    with fdb.session() as s:
        before = s.scalar(select(func.count()).select_from(LabelRevision))
    r = fresh.post("/api/import/project", json=exported, headers=fadmin)
    assert r.status_code == 422 and "already" in r.json()["detail"]
    with fdb.session() as s:
        assert s.scalar(select(func.count()).select_from(LabelRevision)) == before
    fdb.dispose()
    db.dispose()


def _counts(db: Database) -> tuple:
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in
                     (User, Label, LabelRevision, Family, Circuit, CircuitEdge, CircuitRevision))


@pytest.mark.parametrize("mutate,expect", [
    (lambda d: d.update(format="something-else"), "format"),
    (lambda d: d.update(format_version=99), "format_version"),
    (lambda d: d.pop("circuits"), "circuits: Field required"),
    (lambda d: d["labels"][1].pop("annotator"), "labels[1].annotator"),
    (lambda d: d["labels"][0].update(annotator="mallory"), "labels[0].annotator"),
    (lambda d: d["labels"][2].update(label="x" * 201), "labels[2].label"),
    (lambda d: d["labels"][0]["history"][0].update(created_at="yesterday"), "labels[0].history[0].created_at"),
    (lambda d: d["labels"][0].update(version=7), "labels[0].version"),
    (lambda d: d["families"][0]["members"].append(dict(d["families"][0]["members"][0])), "families[0].members[3]"),
    (lambda d: d["circuits"][-1]["edges"].append({"source": "conv1:0", "target": "zz:1", "kind": "direct",
                                                   "weight": 1.0, "l2": 1.0}), "circuits[1]"),
    (lambda d: d["circuits"][-1]["nodes"].append({"layer": "conv2", "index": 99}), "circuits[1].nodes[3]"),
    (lambda d: d["labels"][0].update(model="nomodel"), "labels[0]"),
])
def test_malformed_or_partial_import_is_refused_whole(populated, make_app, mutate, expect):
    client, db, _ = populated
    doc = client.get("/api/export/project", headers=token(db, "ada", "admin")).json()
    doc["circuits"].sort(key=lambda c: c["name"])  # second = "red curve" (3 nodes) ... keep indices stable
    doc["circuits"].reverse()
    mutate(doc)
    env = make_app("dst", local_user=None)
    fresh, fdb = env.client(), env.db
    fadmin = token(fdb, "root", "admin")
    before = _counts(fdb)
    r = fresh.post("/api/import/project", json=doc, headers=fadmin)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "nothing was written" in detail and expect in detail, detail
    assert _counts(fdb) == before
    fdb.dispose()


def test_import_of_non_json_and_missing_units_option(populated, make_app):
    client, db, _ = populated
    doc = client.get("/api/export/project", headers=token(db, "ada", "admin")).json()
    env = make_app("dst", local_user=None)
    fresh, fdb = env.client(), env.db
    fadmin = token(fdb, "root", "admin")
    r = fresh.post("/api/import/project", content=b"{not json", headers={**fadmin, "Content-Type": "application/json"})
    assert r.status_code == 422 and "not JSON" in r.json()["detail"]
    doc["labels"][0]["index"] = 1234  # a unit this database does not have
    r = fresh.post("/api/import/project", json=doc, headers=fadmin)
    assert r.status_code == 422 and "1234" in r.json()["detail"] and "--allow-missing-units" in r.json()["detail"]
    r = fresh.post("/api/import/project?allow_missing_units=true", json=doc, headers=fadmin)
    assert r.status_code == 200 and "1234" in r.json()["warnings"][0]
    with fdb.session() as s:
        assert s.scalar(select(Label).where(Label.unit_index == 1234)).unit_id is None  # kept, detached
    fdb.dispose()


def test_cli_export_import_round_trip(populated, tmp_path, make_app, monkeypatch):
    from typer.testing import CliRunner

    from circuitscope.cli import app
    from circuitscope.store.db import get_database

    client, db, cid = populated
    runner = CliRunner()
    monkeypatch.setenv("CIRCUITSCOPE_DATABASE_URL", db.url)
    monkeypatch.setenv("CIRCUITSCOPE_DATA_DIR", str(tmp_path / "src" / "data"))  # make_app("src")'s data dir
    from circuitscope.settings import get_settings

    get_settings.cache_clear()
    get_database.cache_clear()
    out = tmp_path / "project.json"
    r = runner.invoke(app, ["export", "project", "-o", str(out)])
    assert r.exit_code == 0, r.output
    for fmt, check in [("graph-json", lambda p: validate_graph(json.loads(p.read_text()))),
                       ("graphml", lambda p: nx.read_graphml(p)),
                       ("html", lambda p: "data:image/png" in p.read_text() or pytest.fail("no images"))]:
        p = tmp_path / f"c.{fmt}"
        r = runner.invoke(app, ["export", "circuit", str(cid), "--format", fmt, "-o", str(p)])
        assert r.exit_code == 0, r.output
        check(p)
    r = runner.invoke(app, ["export", "labels", "toy", "--format", "csv"])
    assert r.exit_code == 0 and "red diagonal stripes" in r.output

    fdb = make_app("dst", local_user=None).db
    monkeypatch.setenv("CIRCUITSCOPE_DATABASE_URL", fdb.url)
    get_settings.cache_clear()
    get_database.cache_clear()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(out.read_text()), "users": []}))
    r = runner.invoke(app, ["import", "project", str(bad)])
    assert r.exit_code == 2 and "nothing was written" in r.output
    r = runner.invoke(app, ["import", "project", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "list"])
    assert "alice" in r.output and "annotator" in r.output
    r = runner.invoke(app, ["users", "set-password", "alice", "--password", "new-pass"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["tokens", "create", "alice", "--name", "ci"])
    assert r.exit_code == 0 and r.output.strip().startswith("cs_")
    from circuitscope.export.project import export_project

    with db.session() as s1, fdb.session() as s2:
        assert strip(export_project(s1)) == strip(export_project(s2))
    get_settings.cache_clear()
    get_database.cache_clear()
    fdb.dispose()
