"""Deliver queue messages to the app's event handlers, as Lambda would, in background threads.

`chalice local` never invokes event handlers. Here one thread per queue long-polls SQS and calls
`app.handle_upload` with the S3 notification (the same `{"Records": [...]}` dict S3 hands Lambda) and
`app.handle_work` with an SQS event of one record (batch size 1). A handled message is deleted; one
whose handler raised stays on the queue and comes back after a short local retry delay (Lambda would
wait for the visibility timeout: 6 minutes is too long to watch a retry locally). After
maxReceiveCount deliveries moto's redrive moves it to the dead-letter queue.

The app is imported in this process, and re-imported when `app.py` or `chalicelib/` change, so the
handlers run the code you are editing, as the `chalice local` child's autoreloader does for routes.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

log = logging.getLogger("local.dispatch")

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers use."""

    function_name: str
    timeout_s: float = 60.0
    memory_limit_in_mb: int = 1024
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[{self.function_version}]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class AppLoader:
    """Imports the top-level `app` module, and imports it afresh after its sources change."""

    def __init__(self, project_dir: Path = PROJECT_DIR, *, reload: bool = True) -> None:
        self.project_dir = project_dir
        self.reload = reload
        self._lock = threading.Lock()
        self._module: Any = None
        self._stamp: tuple[float, int] = (0.0, 0)

    def _sources_stamp(self) -> tuple[float, int]:
        files = [self.project_dir / "app.py", *(self.project_dir / "chalicelib").rglob("*.py")]
        mtimes = [f.stat().st_mtime for f in files if f.exists()]
        return (max(mtimes, default=0.0), len(mtimes))

    def get(self) -> Any:
        """The current `app` module; raises if it does not import (the caller retries later)."""
        with self._lock:
            if self._module is not None and not self.reload:
                return self._module
            stamp = self._sources_stamp()
            if self._module is None or stamp != self._stamp:
                if self._module is not None:
                    log.info("app.py or chalicelib changed: re-importing the event handlers")
                for name in [m for m in sys.modules if m == "app" or m.split(".")[0] == "chalicelib"]:
                    del sys.modules[name]
                if str(self.project_dir) not in sys.path:
                    sys.path.insert(0, str(self.project_dir))
                self._stamp = stamp
                self._module = None
                self._module = importlib.import_module("app")
            return self._module


def complete_s3_record(record: dict[str, Any]) -> dict[str, Any]:
    """Make moto's notification record look like real S3's: missing fields added, key encoded alike."""
    record.setdefault("userIdentity", {"principalId": "AWS:AIDALOCALSTACKUSER"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault("responseElements", {
        "x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex,
    })
    s3 = record.get("s3", {})
    s3.get("bucket", {}).setdefault("ownerIdentity", {"principalId": "A3LOCALOWNER"})
    obj = s3.get("object", {})
    obj.setdefault("sequencer", f"{time.time_ns():X}")
    if "key" in obj:
        # S3 form-encodes the key but keeps its slashes; moto encodes them too (%2F).
        obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return record


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as a record of the event Lambda's SQS poller sends."""
    attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        binary = value.get("BinaryValue")
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        attributes[name] = {k: v for k, v in attributes[name].items() if v is not None}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


# Given one SQS message, returns the Lambda event for it, or None to acknowledge it without a call.
EventBuilder = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def s3_notification_event(message: dict[str, Any]) -> dict[str, Any] | None:
    """The S3 notification in an S3 -> SQS message, as S3 would hand it to Lambda directly."""
    body = json.loads(message["Body"])
    if body.get("Event") == "s3:TestEvent":  # sent once when the notification is installed
        return None
    body["Records"] = [complete_s3_record(r) for r in body.get("Records", [])]
    return body


class QueueDispatcher(threading.Thread):
    """Long-polls one queue and invokes one handler per message until stopped."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        handler_name: str,
        build_event: EventBuilder | None,
        loader: AppLoader,
        region: str = "us-east-1",
        retry_delay_s: int = 5,
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__(name=f"dispatch-{handler_name}", daemon=True)
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler_name = handler_name
        self.loader = loader
        self.region = region
        self.retry_delay_s = retry_delay_s
        self.timeout_s = timeout_s
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.build_event = build_event or (lambda m: {"Records": [sqs_record(m, self.queue_arn, region)]})
        self._stop_event = threading.Event()
        self.handled = 0  # invocations that returned
        self.failed = 0  # invocations that raised

    def stop(self) -> None:
        """Ask the thread to finish: it completes the message in hand, then exits."""
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._poll_once()
            except Exception:  # the emulator going away at shutdown, or a bug here: keep polling
                if self._stop_event.is_set():
                    break
                log.exception("%s: polling %s failed", self.handler_name, self.queue_url)
                self._stop_event.wait(1)

    def _poll_once(self) -> None:
        try:
            app = self.loader.get()
        except Exception:
            # The app does not import (an edit in progress): leave the messages queued until it does.
            log.exception("%s: cannot import app; messages wait on the queue", self.handler_name)
            self._stop_event.wait(2)
            return
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=1,  # short, so Ctrl-C is prompt
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            self._deliver(app, message)

    def _deliver(self, app: Any, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        event = self.build_event(message)
        if event is None:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
            return
        started = time.monotonic()
        context = LambdaContext(function_name=f"gallery-local-{self.handler_name}", timeout_s=self.timeout_s)
        try:
            getattr(app, self.handler_name)(event, context)
        except Exception:
            self.failed += 1
            count = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            log.error(
                "%s failed (delivery %s, message %s); retrying in %ss:\n%s",
                self.handler_name, count, message["MessageId"], self.retry_delay_s, traceback.format_exc(),
            )
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=self.retry_delay_s
            )
            return
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        self.handled += 1
        log.info("%s ok in %.2fs (message %s)", self.handler_name, time.monotonic() - started,
                 message["MessageId"])
