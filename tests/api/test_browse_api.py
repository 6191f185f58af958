"""Browse API on a small synthetic database: payloads, errors (4xx with clear messages, never 500),
image caching headers, refusal of paths outside the image store, and a bounded number of queries."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import event

from circuitscope.api.schemas.browse import LayerDetail, LayerSummary, ModelSummary, UnitDetail, UnitPage, UnitRef
from circuitscope.settings import Settings
from circuitscope.store import BlobStore, Database
from circuitscope.store.tables.records import (
    Blob,
    Connection,
    Dataset,
    DatasetExample,
    DatasetImage,
    FeatureVis,
    Layer,
    LayerStage,
    Model,
    Unit,
)

XSS = "<img src=x onerror=alert(1)>"
CHANNELS = [4, 6, 3]  # conv1, block.conv2 (dotted name), head (not computed)


def _webp(color: tuple[int, int, int], size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="WEBP", lossless=True)
    return buf.getvalue()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory):
    """The same small world on SQLite and on PostgreSQL (the queries are plain SQL: both must work)."""
    root: Path = tmp_path_factory.mktemp("browse")
    url = None
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"cs_browse_{os.getpid()}")
    settings = Settings(data_dir=root / "data", database_url=url)
    db = Database(settings.sqlalchemy_url)
    blobs = BlobStore(settings.blob_dir)
    stored = [blobs.put(_webp((40 * i % 256, 80, 200 - 10 * i))) for i in range(12)]
    h = [s.hash for s in stored]
    ids: dict[tuple[str, int], int] = {}
    with db.session() as s:
        for b in stored:
            s.add(Blob(hash=b.hash, size=b.size, mime=b.mime, width=b.width, height=b.height))
        m = Model(slug="tiny", name="Tiny net", source={"kind": "test"}, input_size=16, mean=[0, 0, 0],
                  std=[1, 1, 1], class_names=None, description="for tests")
        other = Model(slug="other", name="Other", source={"kind": "test2"}, input_size=16, mean=[0, 0, 0],
                      std=[1, 1, 1], class_names=None)
        s.add_all([m, other])
        ds = Dataset(slug="ds", spec={"kind": "test"}, num_images=10, classes=["cat", "dog"])
        s.add(ds)
        s.flush()
        imgs = [DatasetImage(dataset_id=ds.id, index=i, ref=f"img/{i}.png", label=i % 2, attributes={},
                             image_hash=h[i]) for i in range(4)]
        s.add_all(imgs)
        layers = []
        for pos, (name, ch) in enumerate(zip(["conv1", "block.conv2", "head"], CHANNELS)):
            layer = Layer(model_id=m.id, name=name, position=pos, module_type="Conv2d", output_shape=[ch, 4, 4],
                          channels=ch)
            s.add(layer)
            layers.append(layer)
        s.add(Layer(model_id=other.id, name="only", position=0, module_type="Conv2d", output_shape=[2, 2, 2],
                    channels=2))
        s.flush()
        for layer in layers[:2]:
            for st in ("examples", "featurevis"):
                s.add(LayerStage(layer_id=layer.id, stage=st, status="done", units_done=layer.channels,
                                 units_total=layer.channels))
        s.add(LayerStage(layer_id=layers[1].id, stage="weights", status="running", units_done=2, units_total=6))
        for layer in layers[:2]:
            # unit 3 of block.conv2 is left without a row (a gap, as during a partial run)
            for c in range(layer.channels):
                if layer.name == "block.conv2" and c == 3:
                    continue
                odd = layer.name == "conv1" and c == 3  # non-finite statistics (a dead or exploding unit)
                u = Unit(layer_id=layer.id, index=c, mean=0.1 * c, std=1.0, min=-1.0,
                         max=float("inf") if odd else 3.0 + c, sparsity=0.25,
                         quantiles={"0.5": 0.0, "0.99": 2.5},
                         histogram={"edges": [float("-inf") if odd and not url else -1, 0, 1, 2, 3],  # PG JSON refuses inf
                                    "counts": [5, 10, 4, 1]},
                         max_histogram={"edges": [0, 1, 2, 3], "counts": [1, 3, 6]}, top_activation=2.0 + c)
                s.add(u)
                s.flush()
                ids[(layer.name, c)] = u.id
                if c != 2:  # unit 2 has no renders: the grid shows a placeholder
                    for obj, var in [("diversity", 1), ("negative", 0), ("channel", 0), ("neuron", 0), ("diversity", 0)]:
                        s.add(FeatureVis(unit_id=u.id, objective=obj, variant=var, image_hash=h[(c + var) % 12],
                                         activation=5.0 if obj != "negative" else -2.0,
                                         peak=7.5 if obj == "channel" else None, params={"steps": 8}))
                for kind in ("top", "bottom"):
                    for r in range(12):
                        s.add(DatasetExample(unit_id=u.id, kind=kind, rank=r, dataset_image_id=imgs[r % 4].id,
                                             activation=(10 - r) if kind == "top" else -r, y=r % 4, x=(r + 1) % 4,
                                             box=[0, 0, 8, 8], crop_hash=h[r % 12], heatmap_hash=h[(r + 1) % 12]))
                if layer.name == "conv1" and c == 0:  # first layer: weights on the image's R, G, B
                    u.input_kernel = [[[0.5, -0.25], [0.0, 1.0]], [[0.1, 0.2], [0.3, 0.4]], [[-1.0, 0.0], [0.0, 0.0]]]
                if layer.name == "conv1" and c == 0:  # examples across the deciles: 2 per decile
                    for r in range(20):
                        d, slot = divmod(r, 2)
                        s.add(DatasetExample(unit_id=u.id, kind="quantile", rank=d * 1000 + slot,
                                             dataset_image_id=imgs[r % 4].id, activation=0.1 * r, y=0, x=0,
                                             box=[0, 0, 8, 8], crop_hash=h[r % 12], heatmap_hash=h[(r + 1) % 12]))
        # connections into block.conv2 unit 0 from conv1 units, and out of it into nothing
        dst = ids[("block.conv2", 0)]
        for c, (strength, l2) in enumerate([(0.5, 1.0), (-2.0, 3.0), (0.1, 0.2), (-0.3, 2.0)]):
            s.add(Connection(src_unit_id=ids[("conv1", c)], dst_unit_id=dst, kind="direct", strength=strength,
                             l2=l2, kernel=[[strength, 0.0], [0.0, -0.1]]))
        s.add(Connection(src_unit_id=ids[("conv1", 1)], dst_unit_id=ids[("block.conv2", 1)], kind="expanded",
                         strength=1.5, l2=1.5, kernel=[[1.5]]))
        _add_label(s, m.slug, "block.conv2", 1, ids[("block.conv2", 1)], XSS)
        _add_label(s, m.slug, "conv1", 1, ids[("conv1", 1)], "curve detector")
    from circuitscope.api.app import create_app

    app = create_app(settings, db)
    with TestClient(app) as client:
        yield dict(client=client, db=db, ids=ids, hashes=h, blobs=blobs, root=root)
    db.dispose()


def _add_label(session, model: str, layer: str, index: int, unit_id: int, text: str) -> None:
    try:
        from circuitscope.store.tables.annotation import Label, User
    except ImportError:  # pragma: no cover - annotation tables not installed
        return
    user = session.query(User).filter_by(name="tester").one_or_none()
    if user is None:
        user = User(name="tester", role="annotator")
        session.add(user)
        session.flush()
    session.add(Label(unit_id=unit_id, model_slug=model, layer_name=layer, unit_index=index, user_id=user.id,
                      label=text, confidence=0.9, status="confident"))


def _labels_available() -> bool:
    try:
        from circuitscope.annotate.labels import consensus_labels  # noqa: F401
    except ImportError:
        return False
    return True


def valid(r, schema):
    """The response body conforms to its documented schema (the routes serialize plain dicts)."""
    assert r.status_code == 200, r.text
    body = r.json()
    if isinstance(body, list):
        for item in body:
            schema.model_validate(item, strict=False)
            assert set(item) == set(schema.model_fields), set(item) ^ set(schema.model_fields)
    else:
        schema.model_validate(body)
        assert set(body) == set(schema.model_fields), set(body) ^ set(schema.model_fields)
    return body


def assert_json_error(r, status: int, *needles: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    for n in needles:
        assert n in body["detail"], body["detail"]
    return body


# ----------------------------------------------------------------------------------------- models
def test_models_list_with_layers_and_status(world):
    r = world["client"].get("/api/models")
    models = {m["slug"]: m for m in valid(r, ModelSummary)}
    assert set(models) == {"tiny", "other"}
    tiny = models["tiny"]
    assert tiny["num_layers"] == 3 and tiny["num_units"] == sum(CHANNELS)
    assert [lyr["name"] for lyr in tiny["layers"]] == ["conv1", "block.conv2", "head"]
    status = {lyr["name"]: lyr["status"] for lyr in tiny["layers"]}
    assert status == {"conv1": "done", "block.conv2": "running", "head": "not_computed"}
    assert tiny["status"] == "running"
    assert models["other"]["status"] == "not_computed"
    head = tiny["layers"][2]
    # issue 14: `--model tiny` named the slug where a model spec is wanted; a spec the CLI cannot express
    # (this test model's) points at a run description
    assert head["compute_command"].startswith("circuitscope compute RUN.toml --model-slug tiny --layers head")
    assert tiny["layers"][1]["stages"]["weights"] == {"status": "running", "units_done": 2, "units_total": 6}


def test_model_and_layer_detail(world):
    c = world["client"]
    m = valid(c.get("/api/models/tiny"), ModelSummary)
    assert m["slug"] == "tiny" and len(m["layers"]) == 3
    lyr = valid(c.get("/api/models/tiny/layers/block.conv2"), LayerDetail)  # dotted name in one path segment
    assert lyr["channels"] == 6 and lyr["model"] == "tiny"
    assert lyr["prev"] == {"name": "conv1", "channels": 4}
    assert lyr["next"] == {"name": "head", "channels": 3}
    assert lyr["prev_computed"] == {"name": "conv1", "channels": 4}
    assert lyr["next_computed"] is None  # head has no records: keyboard navigation skips it
    first = c.get("/api/models/tiny/layers/conv1").json()
    assert first["prev"] is None and first["next"]["name"] == "block.conv2"
    assert first["next_computed"]["name"] == "block.conv2"
    head = c.get("/api/models/tiny/layers/head").json()
    assert head["prev_computed"]["name"] == "block.conv2" and head["next_computed"] is None
    assert [x["name"] for x in valid(c.get("/api/models/tiny/layers"), LayerSummary)] == ["conv1", "block.conv2", "head"]


def test_unknown_model_and_layer_name_what_exists(world):
    c = world["client"]
    body = assert_json_error(c.get("/api/models/nope"), 404, "nope", "tiny", "other")
    assert body["models"] == ["other", "tiny"]
    assert_json_error(c.get("/api/models/nope/layers/conv1/units/0"), 404, "nope")
    body = assert_json_error(c.get("/api/models/tiny/layers/conv9"), 404, "conv9", "conv1", "block.conv2")
    assert "Did you mean 'conv1'" in body["detail"]
    assert_json_error(c.get("/api/models/tiny/layers/only/units"), 404, "only")  # a layer of another model
    assert_json_error(c.get("/api/nothing/here"), 404, "/docs")


# ------------------------------------------------------------------------------------------ units
def test_unit_page_paging_labels_and_placeholders(world):
    c = world["client"]
    page = valid(c.get("/api/models/tiny/layers/block.conv2/units", params={"offset": 1, "limit": 3}), UnitPage)
    assert page["total"] == 6 and page["offset"] == 1 and page["limit"] == 3
    assert [u["index"] for u in page["items"]] == [1, 2, 3]
    one, two, three = page["items"]
    assert one["image"].startswith("/api/images/") and one["id"] == world["ids"][("block.conv2", 1)]
    assert two["image"] is None and two["id"] is not None  # computed unit without a render
    assert three == {"index": 3, "id": None, "label": None, "image": None, "top_activation": None}
    if _labels_available():
        assert one["label"] == XSS  # returned verbatim; the page escapes it
    everything = c.get("/api/models/tiny/layers/block.conv2/units").json()
    assert [u["index"] for u in everything["items"]] == list(range(6))
    past_end = c.get("/api/models/tiny/layers/block.conv2/units", params={"offset": 100}).json()
    assert past_end["items"] == [] and past_end["total"] == 6


@pytest.mark.parametrize("query", ["offset=-1", "offset=abc", "limit=0", "limit=5000", "limit=1.5", "offset="])
def test_unit_page_bad_query_is_422(world, query):
    body = assert_json_error(world["client"].get(f"/api/models/tiny/layers/conv1/units?{query}"), 422, "Invalid request")
    assert any(k in body["detail"] for k in ("offset", "limit"))


def test_unit_detail_in_full(world):
    c = world["client"]
    u = valid(c.get("/api/models/tiny/layers/block.conv2/units/0"), UnitDetail)
    assert u["id"] == world["ids"][("block.conv2", 0)] and u["computed"] is True
    assert u["layer"]["name"] == "block.conv2" and u["layer"]["prev"]["name"] == "conv1"
    assert [(f["objective"], f["variant"]) for f in u["feature_vis"]] == [
        ("channel", 0), ("neuron", 0), ("negative", 0), ("diversity", 0), ("diversity", 1)]
    assert u["feature_vis"][2]["activation"] == -2.0
    assert u["feature_vis"][0]["peak"] == 7.5 and u["feature_vis"][1]["peak"] is None  # null: stored before peaks
    assert len(u["top"]) == 10 and len(u["bottom"]) == 10  # default 10 of the 12 stored
    assert [e["rank"] for e in u["top"]] == list(range(10))
    assert u["top"][0]["activation"] == 10 and u["bottom"][1]["activation"] == -1
    ex = u["top"][1]
    assert (ex["y"], ex["x"]) == (1, 2) and ex["label"] == "dog" and ex["ref"] == "img/1.png"
    assert ex["heatmap"].startswith("/api/images/") and ex["crop"] != ex["heatmap"]
    assert u["stats"]["histogram"] == {"edges": [-1, 0, 1, 2, 3], "counts": [5, 10, 4, 1]}
    assert u["stats"]["sparsity"] == 0.25 and u["stats"]["top_activation"] == 2.0
    inc = u["incoming"]
    assert [(x["unit"]["layer"], x["unit"]["index"]) for x in inc] == [("conv1", 1), ("conv1", 3), ("conv1", 0), ("conv1", 2)]
    assert inc[0]["strength"] == -2.0 and inc[0]["l2"] == 3.0 and inc[0]["relative"] == 1.0
    assert inc[1]["relative"] == pytest.approx(2 / 3)
    assert inc[0]["kernel"] == [[-2.0, 0.0], [0.0, -0.1]]
    assert inc[0]["unit"]["image"].startswith("/api/images/") and inc[0]["unit"]["model"] == "tiny"
    assert inc[3]["unit"]["image"] is None  # conv1 unit 2 has no render
    if _labels_available():
        assert inc[0]["unit"]["label"] == "curve detector"
    assert u["outgoing"] == []
    few = c.get("/api/models/tiny/layers/block.conv2/units/0", params={"examples": 3, "connections": 2}).json()
    assert len(few["top"]) == 3 and len(few["incoming"]) == 2
    out = c.get("/api/models/tiny/layers/conv1/units/1").json()["outgoing"]
    assert {(o["unit"]["index"], o["kind"]) for o in out} == {(0, "direct"), (1, "expanded")}


def test_unit_detail_label(world):
    if not _labels_available():
        pytest.skip("annotation labels not installed")
    u = world["client"].get("/api/models/tiny/layers/block.conv2/units/1").json()
    assert u["label"] == XSS


def test_unit_without_records(world):
    c = world["client"]
    gap = valid(c.get("/api/models/tiny/layers/block.conv2/units/3"), UnitDetail)  # no unit row yet
    assert gap["computed"] is False and gap["id"] is None and gap["top"] == []
    head = c.get("/api/models/tiny/layers/head/units/2").json()
    assert head["computed"] is False and head["layer"]["status"] == "not_computed"
    assert head["layer"]["compute_command"].startswith("circuitscope compute RUN.toml --model-slug tiny --layers head")


@pytest.mark.parametrize("index", ["6", "-1", "99999999999999999999"])
def test_unit_index_out_of_range_is_404(world, index):
    body = assert_json_error(world["client"].get(f"/api/models/tiny/layers/block.conv2/units/{index}"), 404,
                             "has 6 units", "between 0 and 5")
    assert body["channels"] == 6


@pytest.mark.parametrize("url", [
    "/api/models/tiny/layers/conv1/units/abc",
    "/api/models/tiny/layers/conv1/units/1.5",
    "/api/models/tiny/layers/conv1/units/0?examples=-1",
    "/api/models/tiny/layers/conv1/units/0?examples=1000",
    "/api/models/tiny/layers/conv1/units/0?connections=x",
    "/api/units/abc",
])
def test_malformed_is_422(world, url):
    assert_json_error(world["client"].get(url), 422, "Invalid request")


def test_unit_by_id(world):
    c = world["client"]
    uid = world["ids"][("block.conv2", 4)]
    assert valid(c.get(f"/api/units/{uid}"), UnitRef)["layer"] == "block.conv2"
    assert_json_error(c.get("/api/units/987654"), 404, "987654")


# ----------------------------------------------------------------------------------------- images
def test_image_served_with_etag_and_immutable_cache(world):
    c = world["client"]
    digest = world["hashes"][0]
    r = c.get(f"/api/images/{digest}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["etag"] == f'"{digest}"'
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.content == world["blobs"].path(digest).read_bytes()
    for inm in (f'"{digest}"', digest, f'W/"{digest}"', f'"other", "{digest}"', "*"):
        r304 = c.get(f"/api/images/{digest}", headers={"If-None-Match": inm})
        assert r304.status_code == 304, inm
        assert r304.content == b"" and r304.headers["etag"] == f'"{digest}"'
    assert c.get(f"/api/images/{digest}", headers={"If-None-Match": '"nope"'}).status_code == 200


def test_image_errors_and_paths_outside_the_store(world):
    c = world["client"]
    assert_json_error(c.get("/api/images/" + "0" * 64), 404, "No image")
    assert_json_error(c.get("/api/images/" + "A" * 64), 400, "sha256")
    assert_json_error(c.get("/api/images/..circuitscope.db"), 400, "sha256")
    secret = world["root"] / "data" / "circuitscope.db"
    assert secret.exists() or world["db"].engine.dialect.name != "sqlite"
    for bad in ["../circuitscope.db", "..%2f..%2fcircuitscope.db", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                "....//....//etc/passwd", "%2Fetc%2Fpasswd", world["hashes"][0] + ".webp",
                world["hashes"][0][:2] + "%2F" + world["hashes"][0][2:4]]:
        r = c.get("/api/images/" + bad)
        assert 400 <= r.status_code < 500, (bad, r.status_code)
        assert b"SQLite" not in r.content and b"root:" not in r.content


# ----------------------------------------------------------------------------------- openapi/speed
def test_openapi_documents_the_browse_api(world):
    c = world["client"]
    spec = c.get("/openapi.json").json()
    for path in ["/api/models", "/api/models/{model}", "/api/models/{model}/layers/{layer}",
                 "/api/models/{model}/layers/{layer}/units", "/api/models/{model}/layers/{layer}/units/{index}",
                 "/api/images/{digest}", "/api/units/{unit_id}"]:
        assert path in spec["paths"], path
    unit = spec["paths"]["/api/models/{model}/layers/{layer}/units/{index}"]["get"]
    assert "UnitDetail" in str(unit["responses"]["200"])
    assert "ExampleOut" in spec["components"]["schemas"]
    assert c.get("/docs").status_code == 200


def test_unit_page_is_a_handful_of_queries(world):
    if world["db"].engine.dialect.name != "sqlite":
        pytest.skip("counts statements with sqlite3's trace callback")
    """No N+1: the statement count does not depend on examples or connections (the indexes serve them)."""
    statements: list[str] = []

    def on_checkout(dbapi_conn, record, proxy):
        dbapi_conn.set_trace_callback(statements.append)  # every statement sqlite3 runs, however issued

    def on_checkin(dbapi_conn, record):
        dbapi_conn.set_trace_callback(None)

    engine = world["db"].engine
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        c = world["client"]
        c.get("/api/models/tiny/layers/block.conv2/units/0")
        rich = [st for st in statements if st.lstrip().upper().startswith("SELECT")]
        statements.clear()
        c.get("/api/models/tiny/layers/block.conv2/units/0", params={"examples": 1, "connections": 1})
        lean = [st for st in statements if st.lstrip().upper().startswith("SELECT")]
        statements.clear()
        c.get("/api/models/tiny/layers/block.conv2/units", params={"limit": 6})
        grid = [st for st in statements if st.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)
    browse = [st for st in rich if "labels" not in st and "users" not in st]
    assert 5 <= len(browse) <= 8, browse  # layer, unit, renders, examples, classes, in, out
    assert len(rich) == len(lean), (rich, lean)
    assert len(rich) <= 12, rich  # plus the label lookups of the annotation module
    grid_browse = [st for st in grid if "labels" not in st and "users" not in st]
    assert len(grid_browse) == 2, grid_browse  # layer, cells
    assert len(grid) <= 8, grid


def test_non_finite_statistics_become_null(world):
    u = world["client"].get("/api/models/tiny/layers/conv1/units/3")
    assert b"Infinity" not in u.content and b"NaN" not in u.content
    stats = u.json()["stats"]
    assert stats["max"] is None
    if world["db"].engine.dialect.name == "sqlite":
        assert stats["histogram"]["edges"][0] is None


def test_unit_detail_examples_across_deciles_and_stored_counts(world):
    c = world["client"]
    u = valid(c.get("/api/models/tiny/layers/conv1/units/0", params={"examples": 3}), UnitDetail)
    assert len(u["top"]) == 3 and u["examples_stored"] == {"top": 12, "bottom": 12}
    q = u["quantile"]
    assert [(e["decile"], e["rank"] % 1000) for e in q] == [(d, s) for d in range(10) for s in range(2)]
    assert all(e["kind"] == "quantile" and e["crop"].startswith("/api/images/") for e in q)
    assert [e["activation"] for e in q] == pytest.approx([0.1 * r for r in range(20)])
    # a unit without them: an empty list; every example asked for is there up to what is stored
    other = c.get("/api/models/tiny/layers/conv1/units/1", params={"examples": 100}).json()
    assert other["quantile"] == [] and len(other["top"]) == 12 == other["examples_stored"]["top"]
    assert c.get("/api/models/tiny/layers/conv1/units/1", params={"examples": 0}).json()["examples_stored"] == {
        "top": 12, "bottom": 12}


def test_unit_detail_input_kernel_of_the_first_layer(world):
    c = world["client"]
    u = valid(c.get("/api/models/tiny/layers/conv1/units/0"), UnitDetail)
    assert u["input_kernel"] == {"channels": 3, "size": [2, 2], "values": [
        [[0.5, -0.25], [0.0, 1.0]], [[0.1, 0.2], [0.3, 0.4]], [[-1.0, 0.0], [0.0, 0.0]]]}
    assert c.get("/api/models/tiny/layers/conv1/units/1").json()["input_kernel"] is None
    assert c.get("/api/models/tiny/layers/block.conv2/units/3").json()["input_kernel"] is None  # no unit row
