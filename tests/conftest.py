"""Shared fixtures: the resources of infra/resources.yaml under moto, the Chalice test client, and
signed-in users with real Cognito tokens.

Settings are read from the environment at call time, so each test's stack sets them; the Chalice
test client runs stage "test", which has no environment variables of its own in .chalice/config.json.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Records each Lambda function's AWS calls and checks .chalice/policy-*.json against them.
pytest_plugins = ["policy_recorder"]

# Before `app` is imported: the event decorators read these names at import, as on Lambda.
os.environ.setdefault("PHOTOS_BUCKET", "gallery-test-photos-123456789012")
os.environ.setdefault("WORK_QUEUE_NAME", "gallery-test-work")
os.environ.pop("AWS_ENDPOINT_URL", None)

from chalice.test import Client  # noqa: E402
from cognito_helpers import PASSWORD, mocked_aws, moto_jwks  # noqa: E402

from chalicelib import services  # noqa: E402
from local.resources import apply_template  # noqa: E402


@pytest.fixture(scope="session")
def jwks_url() -> Iterator[str]:
    """moto's JWKS served over real HTTP, as Cognito serves it (PyJWKClient fetches with urllib)."""
    body = json.dumps(moto_jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


@dataclass
class Stack:
    outputs: dict[str, Any]
    s3: Any
    dynamodb: Any
    sqs: Any
    cognito: Any

    @property
    def bucket(self) -> str:
        return str(self.outputs["PhotoBucketName"])

    @property
    def table(self) -> Any:
        return boto3.resource("dynamodb", region_name="us-east-1").Table(self.outputs["PhotoTableName"])

    def objects(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket (under `prefix`)."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def items(self) -> list[dict[str, Any]]:
        """Every item in the table (tests may Scan; the app never does)."""
        return self.table.scan()["Items"]


@pytest.fixture
def stack(jwks_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A fresh emulated account with every resource of infra/resources.yaml, and the app's settings."""
    with mocked_aws():
        clients = {name: boto3.client(name, region_name="us-east-1")
                   for name in ("s3", "dynamodb", "sqs", "cognito-idp")}
        created = apply_template(clients, {"Stage": "test", "AllowedOrigins": "http://127.0.0.1:8000"})
        out = created.outputs
        env = {
            "STAGE": "test",
            "PHOTOS_BUCKET": out["PhotoBucketName"],
            "PHOTOS_TABLE": out["PhotoTableName"],
            "WORK_QUEUE_NAME": out["WorkQueueName"],
            "WORK_QUEUE_URL": out["WorkQueueUrl"],
            "USER_POOL_ID": out["UserPoolId"],
            "USER_POOL_CLIENT_ID": out["UserPoolClientId"],
            "JWKS_URL": jwks_url,
            "AUTO_CONFIRM": "true",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        services.reset()
        yield Stack(out, clients["s3"], clients["dynamodb"], clients["sqs"], clients["cognito-idp"])
        services.reset()


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


@dataclass
class User:
    username: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['id_token']}"}

    def json_headers(self) -> dict[str, str]:
        return {**self.headers, "Content-Type": "application/json"}


def _post_json(client: Client, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, body=json.dumps(body),
                            headers={"Content-Type": "application/json", **(headers or {})})


@pytest.fixture
def make_user(client: Client) -> Callable[[str], User]:
    """Sign a user up and in through the API, with real Cognito tokens."""

    def make(username: str) -> User:
        account = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
        signed_up = _post_json(client, "/auth/signup", account)
        assert signed_up.status_code == 201, signed_up.body
        login = _post_json(client, "/auth/login", {"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.body
        return User(username, json.loads(login.body))

    return make


@pytest.fixture
def alice(make_user: Callable[[str], User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[[str], User]) -> User:
    return make_user("bob")


def photo_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture
def gallery(client: Client, stack: Stack, alice: User) -> Any:
    """Alice's view of the API."""
    from gallery_client import Gallery

    return Gallery(client, stack, alice)


def jpeg_variant(name: str, n: int) -> bytes:
    """The real photo `name` with a JPEG comment segment saying `n`: the same picture, other bytes
    (so the gallery does not fold it into an earlier upload as a duplicate)."""
    data = photo_bytes(name)
    comment = f"variant {n}".encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]
