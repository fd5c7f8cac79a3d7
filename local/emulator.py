"""moto's server in a thread of this process, counting the requests that change data.

Same as `moto.server.ThreadedMotoServer` (moto's app, request handler and a threaded werkzeug server),
with a thin WSGI wrapper in front: it bumps a per-service generation after every request that may have
changed S3, DynamoDB or Cognito data, so the snapshotter saves only when and what changed, and
ignores the steady stream of queue polls and reads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*%2F\d{8}%2F[^%]+%2F([^%]+)%2Faws4_request", re.I)
_DYNAMODB_WRITES = {
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
}
_READ_PREFIXES = ("Get", "List", "Describe", "InitiateAuth", "AdminInitiateAuth")


def mutated_service(environ: dict[str, Any]) -> str | None:
    """The service ("s3", "dynamodb", "cognito-idp") a request may have changed, else None."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    action = target.rsplit(".", 1)[-1]
    if target.startswith("DynamoDB_"):
        return "dynamodb" if action in _DYNAMODB_WRITES else None
    if target.startswith("AWSCognitoIdentityProviderService."):
        return None if action.startswith(_READ_PREFIXES) else "cognito-idp"
    if target:
        return None  # SQS (JSON protocol) and anything else we do not persist
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _QUERY_SCOPE.search(
        environ.get("QUERY_STRING", "")
    )
    service = scope.group(1) if scope else "s3"  # unsigned: a presigned POST or SigV2 URL, both S3
    if service == "s3" and environ.get("REQUEST_METHOD") in {"PUT", "POST", "DELETE"}:
        return "s3"
    return None


class ChangeTracker:
    """Per-service generation counters, bumped by the WSGI wrapper."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generations: dict[str, int] = {}

    def bump(self, service: str) -> None:
        with self._lock:
            self.generations[service] = self.generations.get(service, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.generations)

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def tracked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            service = mutated_service(environ)
            try:
                return app(environ, start_response)
            finally:
                # After the call: moto applies the change before it answers, so a snapshot taken
                # after this bump sees it.
                if service:
                    self.bump(service)

        return tracked


class MotoServer:
    """A threaded moto server on (host, port) that tracks changes; start() returns once it listens."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5000) -> None:
        self.host = host
        self.port = port
        self.changes = ChangeTracker()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        app = self.changes.wrap(DomainDispatcherApplication(create_backend_app))
        # Bind here, not in the thread, so a port in use fails start() with a clear OSError.
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
