"""The API contract (issue 9, "one contract"): every JSON route declares its response model in /openapi.json,
shared enums appear there as enums, images are URLs, and every timestamp is a zoned ISO 8601 string in UTC,
also when SQLite hands it back without a zone."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from support.app import add_user

# Routes whose 200 body is a free-form JSON document on purpose: downloads in exchange formats (they are files,
# described by their own format; also served as CSV / GraphML / HTML) and a JSON Schema document.
FREE_FORM = {
    ("get", "/api/export/circuits/{circuit_id}"),
    ("get", "/api/export/labels/{model}"),
    ("get", "/api/export/project"),
    ("get", "/api/export/graph-schema"),
}
# Routes that answer something other than JSON.
NOT_JSON = {
    ("get", "/api/images/{digest}"): {"image/webp", "image/png", "image/jpeg"},
    ("get", "/api/jobs/{job_id}/events"): {"text/event-stream"},
}
IMAGE_URL = re.compile(r"^/api/images/[0-9a-f]{64}$")


@pytest.fixture
def api(tmp_path: Path, make_app):
    env = make_app(allowed_roots=[tmp_path])
    with env.client() as client:
        yield client, env.db


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_described(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says what comes back: a model, or a list / map / union of described things, or a scalar.
    `{}` (anything) and a bare `{"type": "object"}` with no properties are not."""
    schema = _resolve(doc, schema)
    if not schema:
        return False
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return all(_is_described(doc, s) for s in schema[key])
    if schema.get("type") == "array":
        return _is_described(doc, schema.get("items", {}))
    if schema.get("type") == "object":
        if schema.get("properties"):
            return True
        extra = schema.get("additionalProperties")
        return isinstance(extra, dict) and _is_described(doc, extra)
    return "type" in schema or "enum" in schema or "const" in schema


def test_every_json_route_declares_its_response_model(api):
    client, _ = api
    doc = client.get("/openapi.json").json()
    problems, operations = [], 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operations += 1
            ok = [op["responses"][code] for code in op["responses"] if code.startswith("2")]
            assert ok, f"{method} {path}: no success response documented"
            content = ok[0].get("content", {})
            if (method, path) in NOT_JSON:
                assert NOT_JSON[(method, path)] <= set(content), f"{method} {path}: media types {set(content)}"
                continue
            schema = content.get("application/json", {}).get("schema", {})
            if (method, path) in FREE_FORM:
                assert schema.get("type") == "object" or schema.get("additionalProperties") is not None, (
                    f"{method} {path}: expected a free-form object, got {schema}")
                continue
            if not _is_described(doc, schema):
                problems.append(f"{method.upper()} {path}: {schema}")
    assert operations > 60
    assert not problems, "JSON routes without a response model:\n" + "\n".join(problems)


def test_a_route_without_a_model_is_caught():
    """The check above fails on what FastAPI documents for an unannotated route ({} and a bare object)."""
    doc: dict[str, Any] = {"components": {"schemas": {"M": {"type": "object", "properties": {"a": {}}}}}}
    assert not _is_described(doc, {})
    assert not _is_described(doc, {"type": "object", "additionalProperties": True})
    assert not _is_described(doc, {"type": "array", "items": {}})
    assert _is_described(doc, {"type": "array", "items": {"$ref": "#/components/schemas/M"}})


def test_shared_enums_are_named_in_the_document(api):
    client, _ = api
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    expected = {"Role": ["viewer", "annotator", "admin"], "LabelStatus": ["draft", "confident", "disputed"],
                "CircuitStatus": ["proposed", "supported", "refuted"],
                "JobStatus": ["queued", "running", "done", "failed", "cancelled"],
                "LayerStatus": ["done", "running", "partial", "not_computed"],
                "StageStatus": ["pending", "running", "done"],
                "Objective": ["channel", "neuron", "negative", "diversity", "accentuation"]}
    for name, members in expected.items():
        assert schemas[name]["enum"] == members, name
    # used where they belong: the job body's objectives, a label's status, a job's status
    run_config = next(v for k, v in schemas.items() if k.startswith("FeatureVisConfig"))
    assert run_config["properties"]["objectives"]["items"] == {"$ref": "#/components/schemas/Objective"}
    assert schemas["LabelOut"]["properties"]["status"] == {"$ref": "#/components/schemas/LabelStatus"}
    assert schemas["JobOut"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}


def _timestamps(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _timestamps(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v, key)]
    return [(key, value)] if key.endswith("_at") and value is not None else []


def test_timestamps_are_zoned_utc_even_when_sqlite_returns_them_naive(api):
    client, db = api
    seen: list[tuple[str, Any]] = []
    bodies = [
        client.post("/api/users", json={"name": "zoe", "role": "annotator", "password": "pw-zoe"}).json(),
        client.post("/api/auth/tokens", json={"name": "t", "expires_days": 3}).json(),
        client.get("/api/auth/tokens").json(),
        client.put("/api/labels/toy/conv1/0", json={"label": "edge"}).json(),
        client.post("/api/circuits", json={"model": "toy", "name": "c", "units": [{"layer": "conv1", "index": 0}]}).json(),
        client.post("/api/families", json={"model": "toy", "name": "f"}).json(),
        client.post("/api/jobs", json={"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 8},
                                       "layers": ["conv1"]}).json(),
    ]
    bodies += [client.get("/api/jobs").json(), client.get("/api/circuits").json(), client.get("/api/users").json(),
               client.get("/api/labels/toy/conv1/0/history").json()]
    for body in bodies:
        seen += _timestamps(body)
    keys = {k for k, _ in seen}
    assert {"created_at", "updated_at", "expires_at"} <= keys, keys
    with db.session() as s:  # what the job row gives back on SQLite: a naive datetime
        from circuitscope.store.tables.jobs import Job

        assert s.get(Job, 1).created_at.tzinfo is None
    now = datetime.now(timezone.utc)
    for key, text in seen:
        assert isinstance(text, str) and text.endswith("+00:00"), (key, text)
        when = datetime.fromisoformat(text)
        assert when.utcoffset() == timedelta(0) and abs(when - now) < timedelta(days=4), (key, text)


def test_images_are_urls_in_annotate_responses_and_they_resolve(api):
    client, _ = api
    client.put("/api/labels/toy/conv2/1", json={"label": "curve detector"})
    circuit = client.post("/api/circuits", json={"model": "toy", "name": "c",
                                                 "units": [{"layer": "conv2", "index": 1}]}).json()
    urls = [circuit["nodes"][0]["image"]]
    sug = client.get(f"/api/circuits/{circuit['id']}/suggestions?limit=2").json()
    urls += [s["image"] for s in sug["upstream"] + sug["downstream"]]
    urls += [r["image"] for r in client.get("/api/search?q=curve").json()["results"]]
    urls += [r["image"] for r in client.get("/api/search?labeled=false&layer=conv1").json()["results"]]
    assert len(urls) >= 4
    for url in urls:
        assert IMAGE_URL.match(url), url
        assert client.get(url).status_code == 200
    text = client.get(f"/api/circuits/{circuit['id']}").text + client.get("/api/search?q=curve").text
    assert "image_hash" not in text


def test_job_body_is_a_run_config_checked_after_the_permission(tmp_path: Path, make_app):
    """POST /api/jobs takes compute.config.RunConfig: a malformed body is a 422 naming the field, but only for
    someone allowed to compute (a viewer is refused first, whatever the body); nothing is queued either way."""
    env = make_app(sample=False, allowed_roots=[tmp_path], local_user=None)
    tokens = {"vic": add_user(env.db, "vic", "viewer"), "ada": add_user(env.db, "ada", "admin")}
    bad = {"model": {"kind": "demo"}, "dataset": {"kind": "concepts", "size": 8}, "layers": ["conv1"],
           "featurevis": {"objectives": ["channel", "sideways"]}}
    with env.client() as client:
        as_viewer = {"Authorization": f"Bearer {tokens['vic']}"}
        as_admin = {"Authorization": f"Bearer {tokens['ada']}"}
        assert client.post("/api/jobs", json=bad, headers=as_viewer).status_code == 403
        r = client.post("/api/jobs", json=bad, headers=as_admin)
        assert r.status_code == 422 and "featurevis.objectives.1" in r.json()["detail"], r.text
        r = client.post("/api/jobs", json={**bad, "featurevis": {}, "examples": {"k": "ten"}}, headers=as_admin)
        assert r.status_code == 422 and "examples.k" in r.json()["detail"], r.text
        assert client.get("/api/jobs", headers=as_admin).json() == []
        ok = client.post("/api/jobs", json={**bad, "featurevis": {"objectives": ["neuron"]}}, headers=as_admin)
        assert ok.status_code == 201 and ok.json()["config"]["featurevis"]["objectives"] == ["neuron"], ok.text
