"""The permission matrix of the README ("Threat model"), checked against every write route in the OpenAPI
document for an anonymous visitor, a viewer, an annotator and an admin (multi-user mode, default settings).

A write route that is not in MATRIX fails the test: decide who may call it, add it here and to the README.
"""
from __future__ import annotations

import re

import pytest

from support.app import add_user, build_app

ROLES = ["anonymous", "viewer", "annotator", "admin"]
# Who may call it: anyone | signed-in | annotator | admin | compute (settings.compute_role, admin by default).
MATRIX: dict[tuple[str, str], str] = {
    ("post", "/api/auth/login"): "anyone",
    ("post", "/api/auth/logout"): "anyone",
    ("post", "/api/auth/tokens"): "signed-in",
    ("delete", "/api/auth/tokens/{token_id}"): "signed-in",
    ("delete", "/api/auth/sessions/{session_id}"): "signed-in",
    ("post", "/api/auth/sessions/revoke-others"): "signed-in",
    ("put", "/api/labels/{model}/{layer}/{index}"): "annotator",
    ("patch", "/api/labels-by-id/{label_id}"): "annotator",
    ("delete", "/api/labels-by-id/{label_id}"): "annotator",
    ("post", "/api/families"): "annotator",
    ("patch", "/api/families/{family_id}"): "annotator",
    ("post", "/api/families/{family_id}/members"): "annotator",
    ("delete", "/api/families/{family_id}"): "annotator",
    ("post", "/api/circuits"): "annotator",
    ("patch", "/api/circuits/{circuit_id}"): "annotator",
    ("delete", "/api/circuits/{circuit_id}"): "annotator",
    ("post", "/api/circuits/{circuit_id}/nodes"): "annotator",
    ("post", "/api/circuits/{circuit_id}/nodes/remove"): "annotator",
    ("patch", "/api/circuits/{circuit_id}/nodes/{key}"): "annotator",
    ("post", "/api/circuits/{circuit_id}/refresh-edges"): "annotator",
    ("post", "/api/import/circuit"): "annotator",
    ("post", "/api/users"): "admin",
    ("patch", "/api/users/{name}"): "admin",
    ("post", "/api/import/project"): "admin",
    ("post", "/api/admin/relink"): "admin",
    ("post", "/api/jobs"): "compute",
    ("post", "/api/jobs/{job_id}/cancel"): "compute",
    ("post", "/api/sources/layers"): "compute",
    ("post", "/api/sources/dataset"): "compute",
    # Routes of other features (present once they are merged).
    ("post", "/api/circuits/{circuit_id}/tests"): "compute",  # queues a job that runs the model
    ("post", "/api/evidence/comparison/{model}/{layer}/{index}/sample"): "annotator",
    ("put", "/api/evidence/comparison/{model}/{layer}/{index}/answers"): "annotator",
    ("put", "/api/evidence/claims/{label_id}"): "annotator",
    ("post", "/api/labels/{model}/{layer}/{index}/adopt-suggestion"): "annotator",
    ("post", "/api/evidence/tuning/{model}/{layer}/job"): "compute",  # queues a job that runs the model
}
# Reads that are not for everyone.
READS: dict[tuple[str, str], str] = {
    ("get", "/api/sources/browse"): "compute",
    ("get", "/api/users"): "admin",
    ("get", "/api/auth/tokens"): "signed-in",
    ("get", "/api/auth/sessions"): "signed-in",
}
ALLOWED = {
    "anyone": set(ROLES),
    "signed-in": {"viewer", "annotator", "admin"},
    "annotator": {"annotator", "admin"},
    "admin": {"admin"},
    "compute": {"admin"},
}
PARAMS = {"model": "toy", "layer": "conv1", "index": "0", "key": "conv1:0", "name": "nobody"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("routes")
    env = build_app(tmp, local_user=None, allowed_roots=[tmp])
    tokens = {r: add_user(env.db, f"user-{r}", r, "pw-" + r) for r in ("viewer", "annotator", "admin")}
    client = env.client()
    yield client, tokens
    client.close()
    env.db.dispose()


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "999999"), path)


def _write_routes(doc: dict) -> list[tuple[str, str]]:
    return sorted((m, p) for p, item in doc["paths"].items() for m in item if m in ("post", "put", "patch", "delete"))


def test_every_write_route_is_in_the_matrix(server):
    client, _ = server
    routes = _write_routes(client.get("/openapi.json").json())
    missing = [f"{m.upper()} {p}" for m, p in routes if (m, p) not in MATRIX]
    assert not missing, f"write routes without a permission decision (add them to MATRIX and the README): {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(server, role):
    client, tokens = server
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role != "anonymous" else {}
    wrong = []
    present = {(m, p) for p, item in client.get("/openapi.json").json()["paths"].items() for m in item}
    for (method, path), need in {**MATRIX, **READS}.items():
        if (method, path) not in present:
            continue
        kwargs = {"headers": headers}
        if method in ("post", "put", "patch"):
            kwargs["json"] = {}
        r = client.request(method.upper(), _url(path), **kwargs)
        refused = r.status_code in (401, 403)
        allowed = role in ALLOWED[need]
        if allowed == refused:
            wrong.append(f"{method.upper()} {path}: {role} got {r.status_code} ({r.text[:120]}), expected "
                         f"{'allowed' if allowed else 'refused'} ({need})")
        if refused and not allowed:
            assert r.status_code == (401 if role == "anonymous" else 403), (path, r.text)
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert not wrong, "\n".join(wrong)
