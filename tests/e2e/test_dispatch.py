"""The event dispatcher against a real moto server (HTTP, long polling, redrive) and a stub app.

Given the emulator and a stub in place of `app`, when messages arrive on the S3 events queue or the
work queue, then the handler is called with the event Lambda would get, once per message; a handler
that keeps raising sends its message to the dead-letter queue after three deliveries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from local.dispatch import LambdaContext, QueueDispatcher, s3_notification_event
from local.emulator import MotoServer, mutated_service
from local.stack import create_s3_events_queue, free_port, install_bucket_notification

pytestmark = pytest.mark.e2e

SQS_RECORD_KEYS = {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                   "eventSource", "eventSourceARN", "awsRegion"}


class StubApp:
    """Stands in for the `app` module: records calls; `fail` makes a handler raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        self.fail = False
        self.called = threading.Event()

    def _record(self, name: str, event: dict[str, Any], context: Any) -> None:
        self.calls.append((name, event, context))
        self.called.set()
        if self.fail:
            raise RuntimeError("stub handler failure")

    def handle_upload(self, event: dict[str, Any], context: Any) -> None:
        self._record("handle_upload", event, context)

    def handle_work(self, event: dict[str, Any], context: Any) -> None:
        self._record("handle_work", event, context)


@pytest.fixture(scope="module")
def emulator() -> Iterator[MotoServer]:
    server = MotoServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clients(emulator: MotoServer) -> dict[str, Any]:
    # Explicit credentials and endpoint: nothing from (or into) this process's environment.
    return {s: boto3.client(s, endpoint_url=emulator.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
            for s in ("s3", "sqs")}


@pytest.fixture
def dispatch(clients: dict[str, Any]) -> Iterator[Callable[..., tuple[StubApp, QueueDispatcher]]]:
    started: list[QueueDispatcher] = []

    def start(queue_url: str, handler_name: str, build_event: Any = None) -> tuple[StubApp, QueueDispatcher]:
        app = StubApp()
        dispatcher = QueueDispatcher(sqs=clients["sqs"], queue_url=queue_url, handler_name=handler_name,
                                     build_event=build_event, loader=SimpleNamespace(get=lambda: app),
                                     retry_delay_s=0)
        dispatcher.start()
        started.append(dispatcher)
        return app, dispatcher

    yield start
    for dispatcher in started:
        dispatcher.stop()
        dispatcher.join(timeout=10)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _queue_with_dlq(sqs: Any, name: str) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "360",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
    })["QueueUrl"]
    return url, dlq


def _visible(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_work_messages_reach_handle_work_as_one_record_sqs_events(
    clients: dict[str, Any], dispatch: Any
) -> None:
    sqs = clients["sqs"]
    url, _ = _queue_with_dlq(sqs, "work-ok")
    app, dispatcher = dispatch(url, "handle_work")

    sqs.send_message(QueueUrl=url, MessageBody='{"job": "a"}',
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
    sqs.send_message(QueueUrl=url, MessageBody='{"job": "b"}')
    wait_for(lambda: dispatcher.handled == 2)

    bodies = []
    for name, event, context in app.calls:
        assert name == "handle_work"
        (record,) = event["Records"]  # batch size 1
        assert record.keys() == SQS_RECORD_KEYS
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":work-ok")
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert context.get_remaining_time_in_millis() > 0
        bodies.append(record["body"])
    assert bodies == ['{"job": "a"}', '{"job": "b"}']
    assert app.calls[0][1]["Records"][0]["messageAttributes"] == {
        "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    wait_for(lambda: _visible(sqs, url) == 0)  # deleted once handled


def test_a_failing_message_is_retried_then_moved_to_the_dead_letter_queue(
    clients: dict[str, Any], dispatch: Any
) -> None:
    sqs = clients["sqs"]
    url, dlq = _queue_with_dlq(sqs, "work-poison")
    app, dispatcher = dispatch(url, "handle_work")
    app.fail = True

    sqs.send_message(QueueUrl=url, MessageBody="poison")
    wait_for(lambda: dispatcher.failed >= 3)
    wait_for(lambda: _visible(sqs, dlq) == 1)  # moto redrives on the fourth receive
    assert _visible(sqs, url) == 0
    assert dispatcher.failed == 3 and dispatcher.handled == 0


def test_uploads_reach_handle_upload_as_the_s3_notification(clients: dict[str, Any], dispatch: Any) -> None:
    s3, sqs = clients["s3"], clients["sqs"]
    s3.create_bucket(Bucket="dispatch-test")
    events_url = create_s3_events_queue(sqs)
    install_bucket_notification(clients, "dispatch-test", events_url)
    app, dispatcher = dispatch(events_url, "handle_upload", s3_notification_event)

    s3.put_object(Bucket="dispatch-test", Key="originals/o/1", Body=b"x")  # outside the prefix
    s3.put_object(Bucket="dispatch-test", Key="uploads/o/a b+c", Body=b"hello")
    wait_for(lambda: dispatcher.handled == 1)
    time.sleep(0.5)

    (call,) = app.calls  # the s3:TestEvent and originals/ produced no call
    name, event, context = call
    assert name == "handle_upload"
    assert isinstance(context, LambdaContext)
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == "dispatch-test"
    assert record["s3"]["object"]["key"] == "uploads/o/a+b%2Bc"  # URL-encoded, as S3 sends it
    assert record["s3"]["object"]["size"] == 5
    assert {"userIdentity", "requestParameters", "responseElements"} <= record.keys()


COGNITO = "AWSCognitoIdentityProviderService"


@pytest.mark.parametrize(("environ", "service"), [
    ({"REQUEST_METHOD": "PUT",
      "QUERY_STRING": "X-Amz-Credential=t%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"}, "s3"),
    ({"REQUEST_METHOD": "POST"}, "s3"),  # presigned POST: no credentials in headers or query
    ({"REQUEST_METHOD": "GET"}, None),
    ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem"}, "dynamodb"),
    ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, None),
    ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": f"{COGNITO}.SignUp"}, "cognito-idp"),
    ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": f"{COGNITO}.InitiateAuth"}, None),
    ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, None),
    ({"REQUEST_METHOD": "POST",
      "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/sqs/aws4_request, ..."}, None),
])
def test_only_data_changes_count_as_changes(environ: dict[str, str], service: str | None) -> None:
    assert mutated_service(environ) == service


def test_queued_and_in_flight_messages_are_saved_and_sent_again_once(
    clients: dict[str, Any], tmp_path: Any
) -> None:
    from local.state import StateStore

    sqs = clients["sqs"]
    url = sqs.create_queue(QueueName="persist-q")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # one in flight
    store = StateStore(tmp_path, {"s3": None, "dynamodb": None, "cognito-idp": None},
                       account_id="123456789012", region="us-east-1")

    assert store.snapshot_queues(["persist-q"]) == 2
    sqs.purge_queue(QueueUrl=url)
    assert store.restore_queues(sqs, {"persist-q": url}) == 2
    assert store.restore_queues(sqs, {"persist-q": url}) == 0  # sent once, then forgotten

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]
