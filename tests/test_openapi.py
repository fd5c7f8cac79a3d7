"""The published contract (`GET /openapi.json`) matches the app's routes exactly, both ways, and every
method a path lacks answers 405 with {Code, Message}.

Adding a route to app.py without documenting it in chalicelib/openapi.py fails here (and so does a
documented route that no longer exists).
"""

from __future__ import annotations

import json

import pytest

from chalicelib import openapi


def app_operations() -> set[tuple[str, str]]:
    from app import NOT_ALLOWED_VIEW, app

    return {
        (method, path)
        for path, entries in app.routes.items()
        for method, entry in entries.items()
        if entry.view_name != NOT_ALLOWED_VIEW
    }


def test_every_route_is_documented():
    undocumented = app_operations() - openapi.operations()
    assert not undocumented, f"add these routes to chalicelib/openapi.py (_PATHS): {sorted(undocumented)}"


def test_every_documented_operation_is_a_route():
    stale = openapi.operations() - app_operations()
    assert not stale, f"documented in chalicelib/openapi.py but not routes of app.py: {sorted(stale)}"


def test_path_parameters_match_the_route_template():
    doc = openapi.document()
    for path, operations in doc["paths"].items():
        in_template = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_template, (method, path)


def test_every_reference_resolves_and_errors_are_code_and_message():
    doc = openapi.document()
    text = json.dumps(doc)
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in doc["components"]["schemas"], name
    assert doc["components"]["schemas"]["Error"]["required"] == ["Code", "Message"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert any(code.startswith("2") for code in answers), (method, path)
            assert "503" in answers and "Retry-After" in answers["503"]["headers"]
            for code, answer in answers.items():
                if code[0] in "45":
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }


def test_the_document_is_served_with_the_callers_base_url(client):
    response = client.http.get("/openapi.json", headers={"Host": "127.0.0.1:8000"})
    assert response.status_code == 200
    served = json.loads(response.body)
    assert served["openapi"].startswith("3.")
    assert served["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert {(m.upper(), p) for p, ops in served["paths"].items() for m in ops} == openapi.operations()


def test_the_document_is_valid_openapi():
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi.document("http://127.0.0.1:8000"))


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/images", "POST, GET"),
        ("DELETE", "/feed", "GET"),
        ("POST", "/images/01HZZZZZZZZZZZZZZZZZZZZZZZ", "GET, PATCH, DELETE"),
        ("PATCH", "/users/me", "GET, PUT, DELETE"),
        ("TRACE", "/images", None),
        ("HEAD", "/uploads", None),
    ],
)
def test_a_method_a_path_lacks_is_405_with_code_and_message(client, method, path, allowed):
    response = client.http.request(method, path, body=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 405
    if method != "HEAD":
        body = json.loads(response.body)
        assert body["Code"] == "MethodNotAllowedError" and method in body["Message"]
    if allowed:
        assert response.headers["Allow"] == allowed
