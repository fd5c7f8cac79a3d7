"""Structured logs, metrics and traces: one JSON log line per request or event, metrics in CloudWatch
Embedded Metric Format (EMF), X-Ray traces when a stage asks for them.

Every handler runs inside `invocation(...)`. It yields a `Record` the handler (or code below it, through
`annotate`) fills with what it learns: the username, the photo id, the outcome. When the request or
event ends, the record is written as ONE JSON object by a Powertools `Logger` (request or event id,
route or source, username, photo id, outcome, duration in ms), and the metrics counted meanwhile are
printed as EMF documents (Powertools' EMF serializer), which CloudWatch Logs turns into metrics
without any API call: the functions need no `cloudwatch:PutMetricData` grant.

Nothing secret is logged: the record only holds the fields it is given, route *templates* (never a
path with a share token in it), and every line passes `scrub`, which blanks bearer tokens, JWTs,
presigned signatures and fields named like passwords, tokens or GPS.

Settings (environment, read when the logger is first built):
  LOG_FORMAT=json|pretty   pretty: one readable line per record, for `make run` (default json)
  LOG_LEVEL                default INFO
  TRACING=true             X-Ray through Powertools' Tracer (imports aws_xray_sdk: about 0.5 s, so
                           only when on; off locally)

Import cost: this module imports no Powertools at import time. `aws_lambda_powertools` (about 30 ms
over boto3: its package imports Logger, Metrics and Tracer together) is imported when the first record
is written; see docs/operating.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SERVICE = "gallery"
NAMESPACE = "Gallery"

# Metric names (namespace Gallery, dimension `stage`, plus the one each says).
REQUESTS = "Requests"  # every API request
API_4XX = "Api4xx"  # API answers 400-499 (also by `route`)
API_5XX = "Api5xx"  # API answers 500-599 (also by `route`)
UPLOADS = "Uploads"  # by `path`: inline (stored by POST /images) or direct (POST /uploads signed a PUT)
PHOTOS_READY = "PhotosReady"
PHOTOS_REJECTED = "PhotosRejected"  # by `reason`
PHOTOS_FAILED = "PhotosFailed"  # given up on after MAX_ATTEMPTS
PROCESSING_ERRORS = "ProcessingErrors"  # an attempt raised (S3 retries it)
PROCESSING_TIME = "ProcessingTime"  # ms to make one photo's rendition set (the upload event, ready)
BYTES_STORED = "BytesStored"  # bytes of originals that became ready photos
JOBS_DONE = "JobsDone"  # by `job`
JOBS_FAILED = "JobsFailed"  # by `job`
STUCK_PHOTOS = "StuckPhotos"  # processing for longer than STUCK_AFTER (the scheduled check)
PURGED_PHOTOS = "PurgedPhotos"

_SECRET_KEYS = re.compile(r"pass(word)?|token|secret|authorization|signature|credential|gps|cookie", re.I)
_SCRUBS = [
    (
        re.compile(r"(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature)=[^&\s\"']+"),
        r"\1=REDACTED",
    ),
    (re.compile(r"(?i)bearer\s+[\w\-.~+/=]+"), "Bearer REDACTED"),
    (re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"), "REDACTED-JWT"),
]
_ALWAYS = ("request_id", "route", "username", "photo_id", "outcome", "duration_ms")


def scrub(text: str) -> str:
    """`text` with bearer tokens, JWTs and presigned-URL signatures blanked."""
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return text


def _scrub_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key):
        return "REDACTED"
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(key, v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields with secret-looking keys blanked and secret-looking strings scrubbed."""
    return {key: _scrub_value(key, value) for key, value in fields.items()}


@dataclass
class Record:
    """What one request or event did: logged once when it ends."""

    kind: str  # "api" or the event source: "s3", "sqs", "schedule"
    route: str  # "GET /images/{photo_id}", or the handler for events
    request_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    outcome: str | int | None = None
    metrics: list[tuple[str, float, str, dict[str, str]]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def annotate(self, **fields: Any) -> None:
        for key, value in fields.items():
            if value is not None and value != "":
                self.fields[key] = value

    def count(self, name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
        """A metric for this record, with the stage dimension plus `dimensions`."""
        self.metrics.append((name, value, unit, dimensions))


_current: contextvars.ContextVar[Record | None] = contextvars.ContextVar("observability_record", default=None)


def current() -> Record | None:
    return _current.get()


def annotate(**fields: Any) -> None:
    """Add fields (username, photo_id...) to the current request's log line; no-op outside one."""
    record = _current.get()
    if record is not None:
        record.annotate(**fields)


def count(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Count a metric for the current request or event; dropped outside one (e.g. the admin CLI)."""
    record = _current.get()
    if record is not None:
        record.count(name, value, unit, **dimensions)


@contextlib.contextmanager
def invocation(
    kind: str,
    route: str,
    *,
    request_id: str = "",
    on_error: tuple[str, dict[str, str]] | None = None,
    **fields: Any,
) -> Iterator[Record]:
    """Observe one request or event: yields its Record; logs it and prints its metrics when it ends.

    An exception escaping the block is logged (its type only: messages may hold user data) with outcome
    "error" (events) or 500 (API), counts the metric `on_error` (name, dimensions) and is raised again.
    """
    record = Record(kind=kind, route=route, request_id=request_id or _fallback_id())
    record.annotate(**fields)
    token = _current.set(record)
    logger = _logger()
    logger.thread_safe_append_keys(request_id=record.request_id, route=route)
    tracer = _tracer()
    segment = tracer.provider.in_subsegment(f"## {route}") if tracer is not None else contextlib.nullcontext()
    try:
        with segment as subsegment:
            try:
                yield record
            except BaseException as error:
                if record.outcome is None or record.outcome == 200:
                    record.outcome = 500 if kind == "api" else "error"
                record.annotate(error=type(error).__name__)
                if on_error is not None:
                    name, dimensions = on_error
                    record.count(name, 1, "Count", **dimensions)
                raise
            finally:
                if subsegment is not None:
                    subsegment.put_annotation("route", route)
                    subsegment.put_annotation("outcome", str(record.outcome))
    finally:
        _current.reset(token)
        try:
            _finish(record)
        finally:
            logger.thread_safe_clear_keys()


def _fallback_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _stage() -> str:
    return os.environ.get("STAGE", "local")


def _finish(record: Record) -> None:
    duration_ms = round((time.perf_counter() - record.started) * 1000, 1)
    entry: dict[str, Any] = {
        "request_id": record.request_id,
        "kind": record.kind,
        "route": record.route,
        "username": record.fields.pop("username", None),
        "photo_id": record.fields.pop("photo_id", None),
        "outcome": record.outcome,
        "duration_ms": duration_ms,
        "stage": _stage(),
        **record.fields,
    }
    if record.kind == "api":
        status = int(record.outcome) if isinstance(record.outcome, int) else 500
        entry["status"] = status
        record.count(REQUESTS, route=record.route)  # one EMF document per request with its errors
        if 400 <= status < 500:
            record.count(API_4XX, route=record.route)
        elif status >= 500:
            record.count(API_5XX, route=record.route)
    level = logging.ERROR if record.outcome in (500, "error") else logging.INFO
    _logger().log(level, f"{record.route} {record.outcome}", extra=clean(entry))
    emit(record.metrics)


def emit(metrics: list[tuple[str, float, str, dict[str, str]]]) -> None:
    """Print the metrics as EMF, one document per set of dimensions. A metric with extra dimensions is
    published both with `stage` alone and with `stage` + its own (so alarms see the total)."""
    if not metrics or os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true"):
        return
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, float, str]]] = {}
    for name, value, unit, dimensions in metrics:
        groups.setdefault(tuple(sorted(dimensions.items())), []).append((name, value, unit))
    for extra, entries in groups.items():
        provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, default_dimensions={"stage": _stage()})
        if extra:
            provider.add_dimensions(stage=_stage(), **dict(extra))
        for name, value, unit in entries:
            provider.add_metric(name=name, unit=unit, value=value)
        document = provider.serialize_metric_set()
        _write(json.dumps(document, separators=(",", ":")))


def _write(line: str) -> None:
    stream = sys.stdout
    stream.write(line + "\n")
    stream.flush()


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is now (pytest's capture swaps it per test)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@functools.cache
def _logger() -> Any:
    """The Powertools Logger for service "gallery" (Chalice's `app.log` is the same logging.Logger: its
    plain-text handler is removed, so the app's own warnings come out as JSON with the request's keys)."""
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class Formatter(LambdaPowertoolsFormatter):
        def __init__(self, pretty: bool, **options: Any) -> None:
            super().__init__(**options)
            self.pretty = pretty

        def format(self, record: logging.LogRecord) -> str:  # noqa: A003
            line = scrub(super().format(record))
            return _pretty(line) if self.pretty else line

    pretty = os.environ.get("LOG_FORMAT", "json").strip().lower() == "pretty"
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    plain = logging.getLogger(SERVICE)
    for handler in list(plain.handlers):
        if getattr(plain, "powertools_handler", None) is not handler:
            plain.removeHandler(handler)
    logger = Logger(
        service=SERVICE,
        level=level,
        logger_handler=_Stdout(),
        logger_formatter=Formatter(pretty, utc=True, use_rfc3339=True),
        json_default=str,
    )
    plain.propagate = False
    # chalicelib's own warnings (a failed inline upload, a photo given up on) come out as JSON too, with
    # the request's keys, instead of Lambda's plain text.
    library = logging.getLogger("chalicelib")
    library.handlers = [logger.registered_handler]
    library.propagate = False
    return logger


def _pretty(line: str) -> str:
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if "route" not in data or "outcome" not in data or "duration_ms" not in data:
        return f"{data.get('timestamp', '')[11:23]} {data.get('level', '')} {data.get('message', '')}"
    extras = " ".join(
        f"{k}={v}" for k, v in data.items()
        if k not in ("level", "location", "message", "timestamp", "service", "sampling_rate", "kind",
                     "route", "outcome", "duration_ms", "request_id", "stage", "status")
        and v is not None
    )
    return (f"{data.get('timestamp', '')[11:23]} {data['level']:5} {data['route']} -> {data['outcome']} "
            f"{data['duration_ms']}ms {extras} [{str(data.get('request_id', ''))[:8]}]")


@functools.cache
def _tracer() -> Any:
    """Powertools' Tracer when TRACING is on (X-Ray; it imports and patches boto3 with aws_xray_sdk)."""
    if os.environ.get("TRACING", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    try:
        from aws_lambda_powertools import Tracer
    except ImportError:  # pragma: no cover - aws_xray_sdk is in requirements.txt
        return None
    return Tracer(service=SERVICE)


def log() -> Any:
    """The Powertools Logger (for lines other than the one per request, e.g. a warning)."""
    return _logger()


def reset() -> None:
    """Forget the built logger and tracer (tests change LOG_FORMAT or TRACING)."""
    _logger.cache_clear()
    _tracer.cache_clear()
    logging.getLogger(SERVICE).__dict__.pop("init", None)
    plain = logging.getLogger(SERVICE)
    for handler in list(plain.handlers):
        plain.removeHandler(handler)
    plain.__dict__.pop("powertools_handler", None)
    library = logging.getLogger("chalicelib")
    library.handlers = []
    library.propagate = True


# What the handlers count: a mapping from outcomes to metrics, kept here so app.py only wires.

_REJECT_REASONS = (
    ("larger than", "too-large"),
    ("pixels", "too-many-pixels"),
    ("truncated", "truncated"),
    ("empty", "empty"),
    ("unsupported", "unsupported-format"),
    ("decodable", "undecodable"),
)


def reject_reason(reason: str | None) -> str:
    """A rejection's reason as a short code (a metric dimension must have few values)."""
    text = (reason or "").lower()
    for needle, code in _REJECT_REASONS:
        if needle in text:
            return code
    return "other"


def photo_processed(record: Record, outcome: str, *, size: int = 0, reason: str | None = None) -> None:
    """The metrics of one upload event's outcome."""
    if outcome == "ready":
        record.count(PHOTOS_READY)
        record.count(PROCESSING_TIME, round((time.perf_counter() - record.started) * 1000, 1), "Milliseconds")
        if size:
            record.count(BYTES_STORED, size, "Bytes")
    elif outcome == "rejected":
        record.count(PHOTOS_REJECTED, reason=reject_reason(reason))
    elif outcome == "failed":
        record.count(PHOTOS_FAILED)
