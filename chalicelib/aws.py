"""boto3 clients, created once per container, lazily, in one place.

Every client uses botocore's standard retry mode, so throttling (`SlowDown`,
`ProvisionedThroughputExceededException`) is retried with backoff before it reaches our code.
`AWS_ENDPOINT_URL` (set only by the local stack) points every client at the emulator.
"""

from __future__ import annotations

import contextvars
import functools
import os
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
# Presigned URLs must be SigV4: only SigV4 signs Content-Length and Content-Type into a PUT.
_S3 = _RETRIES.merge(Config(signature_version="s3v4"))
# An emulator on 127.0.0.1 has no per-bucket host names, so address buckets by path there.
_S3_EMULATED = _S3.merge(Config(s3={"addressing_style": "path"}))


# Which Lambda function of the app is running (its Chalice name). Each has its own IAM policy, so
# the policy generator attributes every AWS call to the function that made it.
FUNCTION: contextvars.ContextVar[str] = contextvars.ContextVar("function", default="api_handler")


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def client(service: str) -> Any:
    """A shared client for `service` (thread-safe, as boto3 clients are)."""
    if service != "s3":
        return _session().client(service, config=_RETRIES)
    return _session().client("s3", config=_S3_EMULATED if os.environ.get("AWS_ENDPOINT_URL") else _S3)


@functools.cache
def table(name: str) -> Any:
    """A DynamoDB Table resource for `name`."""
    return _session().resource("dynamodb", config=_RETRIES).Table(name)


def reset() -> None:
    """Forget every client (tests call this when they switch emulators)."""
    _session.cache_clear()
    client.cache_clear()
    table.cache_clear()
