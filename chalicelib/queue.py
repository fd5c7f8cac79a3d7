"""The background work queue (SQS): slower jobs the API hands off."""

from __future__ import annotations

import json
import threading
from typing import Any


class WorkQueue:
    def __init__(self, client: Any, *, name: str, url: str = "") -> None:
        self._sqs = client
        self.name = name
        self._url = url
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        with self._lock:
            if not self._url:
                self._url = self._sqs.get_queue_url(QueueName=self.name)["QueueUrl"]
            return self._url

    def send(self, job: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(job, sort_keys=True))
