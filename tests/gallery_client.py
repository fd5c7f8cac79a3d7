"""A test builder that speaks the gallery API through the Chalice test client, and delivers the S3
events that AWS would send after an upload."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import requests
from chalice.test import Client


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Gallery:
    def __init__(self, client: Client, stack: Any, user: Any) -> None:
        self.client = client
        self.stack = stack
        self.owner: str = user.username
        self.headers: dict[str, str] = user.headers

    def _answer(self, response: Any) -> Answer:
        body: Any = response.body
        if body:
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        return Answer(response.status_code, body, dict(response.headers))

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> Answer:
        raw = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        all_headers = {**self.headers, "Content-Type": content_type, **(headers or {})}
        return self._answer(self.client.http.request(method, path, body=raw or b"", headers=all_headers))

    def upload(self, data: bytes, content_type: str = "image/jpeg", query: str = "") -> Answer:
        return self.request("POST", "/images" + query, data, content_type=content_type)

    def get(self, photo_id: str, query: str = "") -> Answer:
        return self.request("GET", f"/images/{photo_id}{query}")

    def list(self, query: str = "") -> Answer:
        return self.request("GET", "/images" + query)

    def deliver(self, key: str) -> Any:
        """Deliver the S3 ObjectCreated event for `key` to the thumbnail handler, as Lambda would."""
        event = self.client.events.generate_s3_event(bucket=self.stack.bucket, key=key)
        return self.client.lambda_.invoke("handle_upload", event)

    def deliver_uploads(self) -> list[str]:
        """Deliver the event of every object waiting under uploads/."""
        keys = self.stack.objects("uploads/")
        for key in keys:
            self.deliver(key)
        return keys

    def upload_ready(self, data: bytes, content_type: str = "image/jpeg", query: str = "") -> dict[str, Any]:
        created = self.upload(data, content_type, query)
        assert created.status == 201, created.body
        self.deliver(f"uploads/{self.owner}/{created.body['id']}")
        return self.get(created.body["id"]).body

    def fetch(self, url: str) -> requests.Response:
        """GET a presigned URL (moto's mock intercepts it like any AWS request)."""
        return requests.get(url, timeout=10)
