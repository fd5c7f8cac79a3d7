"""Labels for a photo from Amazon Rekognition `detect_labels`, kept as tags (behind LABELS=true)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_LABELS = 10
MIN_CONFIDENCE = 80.0


class Labeler:
    def __init__(self, client: Callable[[], Any]) -> None:
        # A factory: the client is made on first use, so API cold starts never pay for it.
        self._client = client

    def labels(self, bucket: str, key: str) -> list[str]:
        """What Rekognition sees in the image at `key`, most confident first, lower-cased."""
        response = self._client().detect_labels(
            Image={"S3Object": {"Bucket": bucket, "Name": key}},
            MaxLabels=MAX_LABELS,
            MinConfidence=MIN_CONFIDENCE,
        )
        ordered = sorted(response.get("Labels", []), key=lambda label: -label.get("Confidence", 0))
        return [label["Name"].lower() for label in ordered if label.get("Name")]
