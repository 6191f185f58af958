"""Annotation API: permissions, labels with optimistic concurrency and history, consensus and agreement,
queue, search, families, circuits. The store holds a small sample model written directly (no network run).

Permission rule under test: a label belongs to its annotator; another annotator's token gets 403 on it
(they add their own label instead); an admin may edit it, and history records the admin as editor.
"""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from circuitscope.store.tables.annotation import LabelRevision
from circuitscope.store.tables.records import Layer, Unit
from support.app import add_user


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def multi(make_app):
    """Multi-user mode (no local default user), anonymous reading on; alice+bob annotators, vera viewer,
    ada admin."""
    env = make_app(local_user=None)
    app, db = env.app, env.db
    tokens = {n: add_user(db, n, r, "secret-" + n) for n, r in
              [("alice", "annotator"), ("bob", "annotator"), ("carol", "annotator"), ("vera", "viewer"),
               ("ada", "admin")]}
    client = TestClient(app)
    yield client, db, tokens
    db.dispose()


UNIT = "/api/labels/toy/conv1/0"


def put_label(client, token, text, version=None, unit=UNIT, **extra):
    return client.put(unit, json={"label": text, "version": version, **extra}, headers=auth(token))


# --- users, roles, tokens, sign-in -----------------------------------------------------------------

def test_viewer_and_anonymous_cannot_write(multi):
    client, _, t = multi
    r = put_label(client, t["vera"], "curve")
    assert r.status_code == 403 and "annotator" in r.json()["detail"]
    assert client.post("/api/circuits", json={"model": "toy", "name": "x"}, headers=auth(t["vera"])).status_code == 403
    assert client.post("/api/families", json={"model": "toy", "name": "x"}, headers=auth(t["vera"])).status_code == 403
    r = client.put(UNIT, json={"label": "curve"})  # anonymous
    assert r.status_code == 401
    # reading is fine for both
    assert client.get(UNIT).status_code == 200
    assert client.get(UNIT, headers=auth(t["vera"])).status_code == 200
    # nothing was written
    assert client.get(UNIT).json()["labels"] == []
    # a viewer cannot manage users either
    assert client.post("/api/users", json={"name": "eve", "role": "admin"}, headers=auth(t["vera"])).status_code == 403
    assert client.post("/api/import/project", json={}, headers=auth(t["alice"])).status_code == 403


def test_anonymous_read_switch(make_app):
    env = make_app(local_user=None, anonymous_read=False)
    app, db = env.app, env.db
    token = add_user(db, "vera", "viewer")
    client = TestClient(app)
    r = client.get(UNIT)
    assert r.status_code == 401 and "Sign in" in r.json()["detail"]
    assert client.get("/api/search?q=x").status_code == 401
    assert client.get(UNIT, headers=auth(token)).status_code == 200
    db.dispose()


def test_bad_token_is_refused_not_downgraded(make_app):
    env = make_app()  # single-user mode: no credentials would act as demo
    app, db = env.app, env.db
    client = TestClient(app)
    r = client.put(UNIT, json={"label": "x"}, headers=auth("cs_not-a-token"))
    assert r.status_code == 401 and "token" in r.json()["detail"]
    assert client.get(UNIT).json()["labels"] == []
    db.dispose()


def test_local_default_user_just_works(make_app):
    env = make_app()
    app, db = env.app, env.db
    client = TestClient(app)
    me = client.get("/api/auth/me").json()
    assert me["user"]["name"] == "demo" and me["user"]["role"] == "admin" and not me["multi_user"]
    r = client.put(UNIT, json={"label": "red stripes"})
    assert r.status_code == 200 and r.json()["mine"]["annotator"] == "demo"
    # a cross-site page cannot make the browser write as the local user
    r = client.put(UNIT, json={"label": "x", "version": 1}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    db.dispose()


def test_login_cookie_logout_and_tokens(multi):
    client, db, t = multi
    assert client.post("/api/auth/login", json={"name": "alice", "password": "wrong"}).status_code == 401
    assert client.post("/api/auth/login", json={"name": "nobody", "password": "x"}).status_code == 401
    r = client.post("/api/auth/login", json={"name": "alice", "password": "secret-alice"})
    assert r.status_code == 200 and "circuitscope_session" in r.cookies
    assert client.get("/api/auth/me").json()["user"]["name"] == "alice"
    assert client.put(UNIT, json={"label": "via cookie"}).status_code == 200
    # tokens: create, use, revoke
    made = client.post("/api/auth/tokens", json={"name": "script"}).json()
    assert made["token"].startswith("cs_")
    other = TestClient(client.app)
    assert other.get("/api/auth/me", headers=auth(made["token"])).json()["user"]["name"] == "alice"
    assert client.delete(f"/api/auth/tokens/{made['id']}").status_code == 200
    assert other.get("/api/auth/me", headers=auth(made["token"])).status_code == 401
    # bob may not revoke alice's tokens
    alice_tokens = client.get("/api/auth/tokens").json()
    assert other.delete(f"/api/auth/tokens/{alice_tokens[0]['id']}", headers=auth(t["bob"])).status_code == 403
    client.post("/api/auth/logout")
    assert client.get("/api/auth/me").json()["user"] is None
    # stored hashed: the secret is nowhere in the database
    from circuitscope.store.tables.annotation import ApiToken

    with db.session() as s:
        assert all(made["token"] not in (row.token_hash, row.prefix) for row in s.scalars(select(ApiToken)))


def test_admin_manages_users(multi):
    client, _, t = multi
    r = client.post("/api/users", json={"name": "dan", "role": "viewer", "password": "pw-dan"}, headers=auth(t["ada"]))
    assert r.status_code == 201
    assert client.patch("/api/users/dan", json={"role": "annotator"}, headers=auth(t["ada"])).json()["role"] == "annotator"
    names = [u["name"] for u in client.get("/api/users", headers=auth(t["ada"])).json()]
    assert "dan" in names
    r = client.post("/api/users", json={"name": "bad name!", "role": "viewer"}, headers=auth(t["ada"]))
    assert r.status_code == 422


# --- labels: ownership, conflicts, history ---------------------------------------------------------

def test_other_users_token_cannot_edit_your_label(multi):
    client, _, t = multi
    mine = put_label(client, t["alice"], "curve detector").json()["mine"]
    r = client.patch(f"/api/labels-by-id/{mine['id']}", json={"label": "bob was here", "version": mine["version"]},
                     headers=auth(t["bob"]))
    assert r.status_code == 403 and "alice" in r.json()["detail"]
    r = client.delete(f"/api/labels-by-id/{mine['id']}?version={mine['version']}", headers=auth(t["bob"]))
    assert r.status_code == 403
    # bob's PUT makes his own label next to alice's
    state = put_label(client, t["bob"], "edge").json()
    assert {(l["annotator"], l["label"]) for l in state["labels"]} == {("alice", "curve detector"), ("bob", "edge")}
    # an admin may moderate; the history says who
    r = client.patch(f"/api/labels-by-id/{mine['id']}", json={"status": "disputed", "version": mine["version"]},
                     headers=auth(t["ada"]))
    assert r.status_code == 200 and r.json()["annotator"] == "alice" and r.json()["status"] == "disputed"
    hist = client.get(f"/api/labels-by-id/{mine['id']}/history").json()
    assert [(h["editor"], h["action"]) for h in hist] == [("ada", "update"), ("alice", "create")]


def test_stale_edit_gets_conflict_not_lost_update(multi):
    client, _, t = multi
    v1 = put_label(client, t["alice"], "curve").json()["mine"]
    # two tabs loaded version 1; the first save wins, the second is refused with the current state
    r1 = put_label(client, t["alice"], "curve, 45 degrees", version=v1["version"])
    assert r1.status_code == 200 and r1.json()["mine"]["version"] == 2
    r2 = put_label(client, t["alice"], "something else", version=v1["version"])
    assert r2.status_code == 409
    body = r2.json()
    assert "version 2" in body["detail"] and body["current"]["label"] == "curve, 45 degrees"
    # creating "again" without a version while one exists is a conflict too
    assert put_label(client, t["alice"], "again").status_code == 409
    state = client.get(UNIT).json()
    assert state["labels"][0]["label"] == "curve, 45 degrees"
    hist = client.get(f"{UNIT}/history").json()
    assert [h["snapshot"]["label"] for h in hist] == ["curve, 45 degrees", "curve"]
    # withdraw + restore keeps everything
    r = client.delete(f"/api/labels-by-id/{v1['id']}?version=2", headers=auth(t["alice"]))
    assert r.status_code == 200 and r.json()["deleted"]
    assert client.get(UNIT).json()["labels"] == []
    r = put_label(client, t["alice"], "curve (restored)", version=3)
    assert r.status_code == 200 and r.json()["mine"]["version"] == 4
    assert [h["action"] for h in client.get(f"{UNIT}/history").json()] == ["restore", "delete", "update", "create"]


def test_concurrent_saves_exactly_one_wins(make_app, db_url):
    """Eight requests race to update the same label from the same version: one succeeds, seven get 409,
    and history has exactly one new revision (SQLite and PostgreSQL)."""
    env = make_app(db_url=db_url, local_user=None)
    app, db = env.app, env.db
    token = add_user(db, "alice", "annotator")
    admin_token = add_user(db, "ada", "admin")
    client = TestClient(app)
    label_id = put_label(client, token, "start").json()["mine"]["id"]
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def worker(i: int):
        c = TestClient(app)
        barrier.wait()
        if i % 2:
            r = c.put(UNIT, json={"label": f"edit {i}", "version": 1}, headers=auth(token))
        else:
            r = c.patch(f"/api/labels-by-id/{label_id}", json={"label": f"admin {i}", "version": 1},
                        headers=auth(admin_token))
        codes.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(codes) == [200] + [409] * 7, codes
    final = client.get(UNIT).json()["labels"][0]
    assert final["version"] == 2
    with db.session() as s:
        revs = s.scalars(select(LabelRevision).order_by(LabelRevision.version)).all()
        assert [r.version for r in revs] == [1, 2]
        assert revs[1].snapshot["label"] == final["label"]
    db.dispose()


def test_two_annotators_consensus_and_agreement(multi):
    client, _, t = multi
    put_label(client, t["alice"], "Curve", confidence=0.9)
    put_label(client, t["bob"], "curve ", confidence=0.6)
    put_label(client, t["carol"], "edge", confidence=0.8)
    put_label(client, t["alice"], "dog head", unit="/api/labels/toy/conv1/1")
    put_label(client, t["bob"], "dog head", unit="/api/labels/toy/conv1/1")
    state = client.get(UNIT).json()
    c = state["consensus"]
    assert c["label"].casefold() == "curve" and c["state"] == "majority" and c["n_annotators"] == 3
    assert c["candidates"][1]["annotators"] == ["carol"]
    layers = {l["layer"]: l for l in client.get("/api/agreement/toy").json()}
    conv1 = layers["conv1"]
    assert conv1["labeled_units"] == 2 and conv1["multi_annotated_units"] == 2
    assert conv1["agreement"] == pytest.approx((1 / 3 + 1.0) / 2)  # unit 0: 1 of 3 pairs agree; unit 1: all
    assert layers["conv2"]["labeled_units"] == 0 and layers["conv2"]["agreement"] is None
    # the layer grid's helper
    from circuitscope.annotate.labels import consensus_labels

    with client.app.state.db.session() as s:
        ids = {u.index: u.id for u in s.scalars(select(Unit).join(Layer).where(Layer.name == "conv1"))}
        got = consensus_labels(s, ids.values())
    assert got[ids[1]] == "dog head" and got[ids[0]].casefold() == "curve" and ids[2] not in got


def test_oversized_and_invalid_fields_are_refused_with_the_limit(multi):
    client, _, t = multi
    r = put_label(client, t["alice"], "x" * 201)
    assert r.status_code == 422 and "label" in r.json()["detail"] and "200" in r.json()["detail"]
    r = put_label(client, t["alice"], "ok", description="d" * 5001)
    assert r.status_code == 422 and "description" in r.json()["detail"] and "5000" in r.json()["detail"]
    r = put_label(client, t["alice"], "ok", tags=[f"t{i}" for i in range(31)])
    assert r.status_code == 422 and "tags" in r.json()["detail"] and "30" in r.json()["detail"]
    r = put_label(client, t["alice"], "ok", confidence=1.5)
    assert r.status_code == 422 and "confidence" in r.json()["detail"]
    r = put_label(client, t["alice"], "ok", status="certain")
    assert r.status_code == 422 and "status" in r.json()["detail"]
    r = client.post("/api/circuits", json={"model": "toy", "name": "c", "claim": "c" * 5001}, headers=auth(t["alice"]))
    assert r.status_code == 422 and "claim" in r.json()["detail"] and "5000" in r.json()["detail"]
    assert client.get(UNIT).json()["labels"] == []
    # unknown unit / layer / model: 404 naming what is missing
    r = put_label(client, t["alice"], "x", unit="/api/labels/toy/conv1/99")
    assert r.status_code == 404 and "no unit 99" in r.json()["detail"]
    r = put_label(client, t["alice"], "x", unit="/api/labels/toy/nolayer/0")
    assert r.status_code == 404 and "nolayer" in r.json()["detail"]


def test_html_in_labels_is_kept_as_text(multi):
    client, _, t = multi
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    state = put_label(client, t["alice"], evil[:200], description=evil).json()
    assert state["mine"]["label"] == evil[:200]  # stored verbatim; rendering escapes it (see test_export)


# --- queue and search ------------------------------------------------------------------------------

def test_queue_lists_unlabelled_units_in_order(multi):
    client, _, t = multi
    put_label(client, t["alice"], "a", unit="/api/labels/toy/conv2/0")
    put_label(client, t["bob"], "b", unit="/api/labels/toy/conv2/2")
    q = client.get("/api/queue/toy/conv2").json()
    assert q["units"] == [1, 3, 4, 5] and q["remaining"] == 4
    assert client.get("/api/queue/toy/conv2?after=3&limit=1").json()["units"] == [4]
    mine = client.get("/api/queue/toy/conv2?mode=mine", headers=auth(t["alice"])).json()
    assert mine["units"] == [1, 2, 3, 4, 5]
    assert client.get("/api/queue/toy/nolayer").status_code == 404


def test_search_with_filters(multi):
    client, _, t = multi
    put_label(client, t["alice"], "curve detector", tags=["shape"], unit="/api/labels/toy/conv2/1")
    put_label(client, t["bob"], "high-low frequency", description="a curve boundary", unit="/api/labels/toy/conv2/3")
    put_label(client, t["bob"], "colour contrast", tags=["colour", "shape"], unit="/api/labels/toy/conv1/4")
    fam = client.post("/api/families", json={"model": "toy", "name": "curves",
                                             "units": [{"layer": "conv2", "index": 1}]}, headers=auth(t["alice"])).json()

    def hits(query):
        return sorted((r["layer"], r["index"]) for r in client.get("/api/search" + query).json()["results"])

    assert hits("?q=curve") == [("conv2", 1), ("conv2", 3)]  # label and description
    assert hits("?q=CURVE detector") == [("conv2", 1)]       # every word, any case
    assert hits("?q=shape") == [("conv1", 4), ("conv2", 1)]   # tags
    assert hits("?tag=colour") == [("conv1", 4)]
    assert hits("?q=curve&annotator=bob") == [("conv2", 3)]
    assert hits("?q=curve&layer=conv1") == []
    assert hits(f"?family={fam['id']}") == [("conv2", 1)]
    assert hits("?q=100%25") == []  # LIKE wildcards are escaped
    unl = client.get("/api/search?labeled=false&layer=conv2").json()
    assert unl["total"] == 4 and [r["index"] for r in unl["results"]] == [0, 2, 4, 5]
    res = client.get("/api/search?q=curve detector").json()["results"][0]
    assert res["families"][0]["name"] == "curves" and res["image"].startswith("/api/images/")


# --- families --------------------------------------------------------------------------------------

def test_families_members_versions_and_grid_map(multi):
    client, _, t = multi
    r = client.post("/api/families", json={"model": "toy", "name": "Gabor filters", "comment": "oriented edges",
                                           "units": [{"layer": "conv1", "index": 0}, {"layer": "conv1", "index": 2}]},
                    headers=auth(t["alice"]))
    assert r.status_code == 201
    fam = r.json()
    assert fam["size"] == 2 and fam["color"].startswith("#")
    assert client.post("/api/families", json={"model": "toy", "name": "Gabor filters"},
                       headers=auth(t["bob"])).status_code == 409
    r = client.post(f"/api/families/{fam['id']}/members", json={"version": 1, "add": [{"layer": "conv1", "index": 5}],
                                                               "remove": [{"layer": "conv1", "index": 0}]},
                    headers=auth(t["bob"]))
    assert r.status_code == 200 and [m["index"] for m in r.json()["members"]] == [2, 5]
    stale = client.patch(f"/api/families/{fam['id']}", json={"version": 1, "comment": "stale"}, headers=auth(t["alice"]))
    assert stale.status_code == 409
    assert client.patch(f"/api/families/{fam['id']}", json={"version": 2, "color": "red"},
                        headers=auth(t["alice"])).status_code == 422
    grid = client.get("/api/family-map/toy/conv1").json()
    assert grid["units"] == {"2": [fam["id"]], "5": [fam["id"]]}
    assert grid["families"][0]["name"] == "Gabor filters"
    hist = client.get(f"/api/families/{fam['id']}/history").json()
    assert [(h["editor"], h["action"]) for h in hist] == [("bob", "members"), ("alice", "create")]
    assert hist[1]["snapshot"]["members"] == [["conv1", 0], ["conv1", 2]]
    assert client.get("/api/labels/toy/conv1/2").json()["families"][0]["name"] == "Gabor filters"


# --- circuits --------------------------------------------------------------------------------------

def test_circuit_build_edges_suggestions_supernodes_history(multi):
    client, _, t = multi
    r = client.post("/api/circuits", json={"model": "toy", "name": "curve circuit", "claim": "curves from edges",
                                           "units": [{"layer": "block3.conv", "index": 1}]}, headers=auth(t["alice"]))
    assert r.status_code == 201
    c = r.json()
    assert c["version"] == 1 and c["edges"] == [] and c["nodes"][0]["image"].startswith("/api/images/")
    sug = client.get(f"/api/circuits/{c['id']}/suggestions?limit=3").json()
    assert len(sug["upstream"]) == 3 and sug["downstream"] == []
    assert sug["upstream"][0]["l2"] >= sug["upstream"][1]["l2"]
    top = sug["upstream"][0]
    r = client.post(f"/api/circuits/{c['id']}/nodes", json={"version": 1, "units": [
        {"layer": top["layer"], "index": top["index"]}, {"layer": "conv1", "index": 3}]}, headers=auth(t["bob"]))
    assert r.status_code == 200
    c = r.json()
    assert c["version"] == 2 and len(c["nodes"]) == 3
    # every pair with a stored connection is an edge, signed
    assert all(isinstance(e["weight"], float) for e in c["edges"]) and len(c["edges"]) >= 2
    assert {e["kind"] for e in c["edges"]} <= {"direct", "expanded"}
    assert any(e["weight"] < 0 for e in c["edges"]) or any(e["weight"] > 0 for e in c["edges"])
    keys = [n["id"] for n in c["nodes"]]
    assert top["layer"] + ":" + str(top["index"]) in keys
    # suggestions never repeat members
    sug = client.get(f"/api/circuits/{c['id']}/suggestions").json()
    assert not {f"{s['layer']}:{s['index']}" for s in sug["upstream"] + sug["downstream"]} & set(keys)
    # supernodes must name nodes of the circuit
    bad = client.patch(f"/api/circuits/{c['id']}", json={"version": 2, "supernodes": [{"name": "x", "nodes": ["conv1:0"]}]},
                       headers=auth(t["alice"]))
    assert bad.status_code == 422 and "conv1:0" in bad.json()["detail"]
    r = client.patch(f"/api/circuits/{c['id']}", json={"version": 2, "status": "supported", "evidence": "ablation -40%",
                                                       "supernodes": [{"name": "edges", "nodes": keys[:2]}]},
                     headers=auth(t["alice"]))
    assert r.status_code == 200 and r.json()["status"] == "supported" and r.json()["version"] == 3
    # a stale edit is refused
    stale = client.patch(f"/api/circuits/{c['id']}", json={"version": 2, "claim": "lost?"}, headers=auth(t["bob"]))
    assert stale.status_code == 409 and stale.json()["current"]["status"] == "supported"
    r = client.patch(f"/api/circuits/{c['id']}/nodes/{keys[0]}", json={"version": 3, "pinned": True, "note": "key"},
                     headers=auth(t["bob"]))
    assert r.status_code == 200 and r.json()["nodes"][0]["pinned"]
    r = client.post(f"/api/circuits/{c['id']}/nodes/remove", json={"version": 4, "nodes": [keys[1]]},
                    headers=auth(t["bob"]))
    assert len(r.json()["nodes"]) == 2 and r.json()["supernodes"][0]["nodes"] == [keys[0]]
    hist = client.get(f"/api/circuits/{c['id']}/history").json()
    assert [h["action"] for h in hist] == ["remove-nodes", "update-node", "update", "add-nodes", "create"]
    assert [h["editor"] for h in hist][-1] == "alice"
    # only the author or an admin may delete; a viewer cannot edit at all
    assert client.delete(f"/api/circuits/{c['id']}?version=5", headers=auth(t["bob"])).status_code == 403
    assert client.patch(f"/api/circuits/{c['id']}", json={"version": 5, "claim": "x"},
                        headers=auth(t["vera"])).status_code == 403
    assert client.delete(f"/api/circuits/{c['id']}?version=5", headers=auth(t["alice"])).status_code == 200
    assert client.get(f"/api/circuits/{c['id']}").status_code == 404
    assert client.get(f"/api/circuits/{c['id']}/history").status_code == 404


def test_units_that_disappear_are_reported_not_dropped(multi):
    client, db, t = multi
    put_label(client, t["alice"], "soon gone", unit="/api/labels/toy/conv2/4")
    c = client.post("/api/circuits", json={"model": "toy", "name": "c", "units": [
        {"layer": "conv1", "index": 0}, {"layer": "conv2", "index": 4}]}, headers=auth(t["alice"])).json()
    with db.session() as s:  # the layer is recomputed: its unit rows are deleted
        layer_id = s.scalar(select(Layer.id).where(Layer.name == "conv2"))
        s.execute(delete(Unit).where(Unit.layer_id == layer_id, Unit.index == 4))
    got = client.get(f"/api/circuits/{c['id']}").json()
    assert len(got["nodes"]) == 2
    gone = next(n for n in got["nodes"] if n["index"] == 4)
    assert gone["missing"] and any("conv2/4" in p for p in got["problems"])
    hits = client.get("/api/search?q=soon").json()["results"]
    assert hits and hits[0]["labels"][0]["detached"]
    with db.session() as s:  # recomputed: the unit exists again
        s.add(Unit(layer_id=layer_id, index=4))
    assert client.post("/api/admin/relink", headers=auth(t["ada"])).json()["attached"] == 2
    got = client.get(f"/api/circuits/{c['id']}").json()
    assert got["problems"] == [] and not any(n["missing"] for n in got["nodes"])
    assert client.get("/api/labels/toy/conv2/4").json()["labels"][0]["label"] == "soon gone"
