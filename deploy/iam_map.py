"""Which IAM permissions one AWS API call needs: the map from (service, operation, parameters) to grants.

The test suite records every call each Lambda function makes (tests/policy_recorder.py); this module
turns one recorded call into the `Grant`s that allow it, with resources written as placeholders for
the stack's outputs (`${PhotoBucketArn}/uploads/*`, `${PhotoTableArn}/index/feed`...), which
`make deploy` fills in. An operation this map does not know is an error, never a silent `*`:
teach it here.

IAM facts encoded below (AWS's service authorization reference):
- S3 `HeadObject` needs `s3:GetObject`; without `s3:ListBucket` on the bucket, a missing key answers
  403 instead of 404 (so code that checks for "not found" needs it, unconditioned: HEAD and GET carry
  no `s3:prefix` context key). `CopyObject` needs `s3:GetObject` on the source and `s3:PutObject` on
  the destination; `DeleteObjects` needs `s3:DeleteObject` on every key; `ListObjectsV2` needs
  `s3:ListBucket` on the bucket, here narrowed with an `s3:prefix` condition.
- A presigned URL (or POST) makes no call when created: whoever uses it acts with the signer's
  rights, so it needs the action of the operation it was signed for.
- DynamoDB's resource API (`Table.put_item`...) makes the same client calls; a Query on an index
  needs `dynamodb:Query` on `<table arn>/index/<name>`.
- Cognito's public operations (SignUp, ConfirmSignUp, InitiateAuth...) are authorized by the app
  client id or a user's token, not by IAM: they need no grant. Admin operations do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Placeholders for the stack's outputs (infra/resources.yaml's Outputs, with `${...}`).
BUCKET = "${PhotoBucketArn}"
TABLE = "${PhotoTableArn}"
QUEUE = "${WorkQueueArn}"
POOL = "${UserPoolArn}"
LOG_GROUP = "${LogGroupArn}"  # arn:aws:logs:<region>:<account>:log-group:/aws/lambda/<function name>

# Resource kinds the recorder resolves names to (by comparing with the settings of the call).
KIND_PLACEHOLDERS = {"bucket": BUCKET, "table": TABLE, "queue": QUEUE, "pool": POOL}


class UnknownOperation(LookupError):
    """An AWS operation deploy/iam_map.py has no rule for."""


@dataclass(frozen=True, order=True)
class Grant:
    """One action allowed on one resource, under an optional condition (canonical JSON, or "")."""

    action: str
    resource: str
    condition: str = ""


def condition_json(condition: Mapping[str, Any] | None) -> str:
    """The canonical text of an IAM Condition block (sorted keys, sorted value lists)."""
    if not condition:
        return ""

    def canon(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: canon(v) for k, v in sorted(value.items())}
        if isinstance(value, list | tuple):
            return sorted(canon(v) for v in value)
        return value

    return json.dumps(canon(condition), sort_keys=True, separators=(",", ":"))


Resolve = Callable[[str, str], str]  # (kind, name) -> placeholder, or an "UNKNOWN ..." marker


def key_pattern(key: str) -> str:
    """The key prefix a key belongs to, as an IAM resource pattern: `uploads/a/b` -> `uploads/*`."""
    head, sep, _ = key.partition("/")
    return f"{head}/*" if sep else key


def _bucket(params: Mapping[str, Any], resolve: Resolve, name: str = "Bucket") -> str:
    return resolve("bucket", str(params.get(name, "")))


def _s3_objects(bucket: str, keys: Iterable[str], action: str) -> list[Grant]:
    return [Grant(action, f"{bucket}/{pattern}") for pattern in sorted({key_pattern(k) for k in keys})]


_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}


def _s3(operation: str, params: Mapping[str, Any], resolve: Resolve, presigned: bool) -> list[Grant]:
    bucket = _bucket(params, resolve)
    if operation in _S3_OBJECT_ACTIONS:
        grants = _s3_objects(bucket, [str(params.get("Key", ""))], _S3_OBJECT_ACTIONS[operation])
        if operation in ("GetObject", "HeadObject") and not presigned:
            # So that a missing key answers 404 (which the code handles) rather than 403.
            grants.append(Grant("s3:ListBucket", bucket))
        return grants
    if operation == "CopyObject":
        source = params.get("CopySource")
        if isinstance(source, str):
            source_bucket_name, _, source_key = source.lstrip("/").partition("/")
            source = {"Bucket": source_bucket_name, "Key": source_key.split("?", 1)[0]}
        source = source or {}
        source_bucket = _bucket(source, resolve)
        return [*_s3_objects(source_bucket, [str(source.get("Key", ""))], "s3:GetObject"),
                *_s3_objects(bucket, [str(params.get("Key", ""))], "s3:PutObject")]
    if operation == "DeleteObjects":
        keys = [str(o["Key"]) for o in (params.get("Delete") or {}).get("Objects", [])]
        return _s3_objects(bucket, keys, "s3:DeleteObject")
    if operation in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
        prefix = str(params.get("Prefix") or "")
        if not prefix:
            return [Grant("s3:ListBucket", bucket)]
        return [Grant("s3:ListBucket", bucket,
                      condition_json({"StringLike": {"s3:prefix": [key_pattern(prefix)]}}))]
    if operation == "HeadBucket":
        return [Grant("s3:ListBucket", bucket)]
    raise UnknownOperation(f"s3:{operation}")


# DynamoDB operations whose IAM action has the operation's own name, on the table (or an index).
_DYNAMODB_SAME_NAME = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable",
    "ConditionCheckItem", "DescribeTimeToLive",
}
# TransactWriteItems entries -> the action each needs.
_TRANSACT_WRITE = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                   "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}


def _dynamodb(operation: str, params: Mapping[str, Any], resolve: Resolve) -> list[Grant]:
    if operation in _DYNAMODB_SAME_NAME:
        table = resolve("table", str(params.get("TableName", "")))
        index = params.get("IndexName")
        resource = f"{table}/index/{index}" if index else table
        return [Grant(f"dynamodb:{operation}", resource)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        tables = sorted((params.get("RequestItems") or {}).keys())
        return [Grant(f"dynamodb:{operation}", resolve("table", t)) for t in tables]
    if operation == "TransactWriteItems":
        grants = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                grants.append(Grant(_TRANSACT_WRITE[kind], resolve("table", str(body.get("TableName", "")))))
        return grants
    if operation == "TransactGetItems":
        return [Grant("dynamodb:GetItem", resolve("table", str(item["Get"].get("TableName", ""))))
                for item in params.get("TransactItems", [])]
    raise UnknownOperation(f"dynamodb:{operation}")


_SQS_ACTIONS = {
    "GetQueueUrl": "sqs:GetQueueUrl", "SendMessage": "sqs:SendMessage", "SendMessageBatch": "sqs:SendMessage",
    "ReceiveMessage": "sqs:ReceiveMessage", "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage", "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}


def queue_name(params: Mapping[str, Any]) -> str:
    """The queue a call addresses, by name (GetQueueUrl) or URL (everything else)."""
    if params.get("QueueName"):
        return str(params["QueueName"])
    return str(params.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]


def _sqs(operation: str, params: Mapping[str, Any], resolve: Resolve) -> list[Grant]:
    if operation not in _SQS_ACTIONS:
        raise UnknownOperation(f"sqs:{operation}")
    return [Grant(_SQS_ACTIONS[operation], resolve("queue", queue_name(params)))]


# Authorized by the app client id or the user's own token, not by the caller's IAM policy.
COGNITO_PUBLIC = frozenset({
    "SignUp", "ConfirmSignUp", "InitiateAuth", "RespondToAuthChallenge", "ResendConfirmationCode",
    "ForgotPassword", "ConfirmForgotPassword", "GlobalSignOut", "GetUser", "RevokeToken",
    "ChangePassword", "DeleteUser", "UpdateUserAttributes", "GetTokensFromRefreshToken",
})


def _cognito(operation: str, params: Mapping[str, Any], resolve: Resolve) -> list[Grant]:
    if operation in COGNITO_PUBLIC:
        return []
    if operation.startswith("Admin") or operation in ("ListUsers", "DescribeUserPool"):
        return [Grant(f"cognito-idp:{operation}", resolve("pool", str(params.get("UserPoolId", ""))))]
    raise UnknownOperation(f"cognito-idp:{operation}")


def grants_for(service: str, operation: str, params: Mapping[str, Any], resolve: Resolve,
               *, presigned: bool = False) -> list[Grant]:
    """The grants one call needs. Raises UnknownOperation for anything not mapped here."""
    if service == "s3":
        return _s3(operation, params, resolve, presigned)
    if presigned:
        raise UnknownOperation(f"presigned {service}:{operation}")
    if service == "dynamodb":
        return _dynamodb(operation, params, resolve)
    if service == "sqs":
        return _sqs(operation, params, resolve)
    if service == "cognito-idp":
        return _cognito(operation, params, resolve)
    if service == "rekognition" and operation == "DetectLabels":
        # DetectLabels has no resource-level permissions (AWS documents `*`); Rekognition reads the
        # image from S3 with the caller's rights, so the caller needs GetObject on that key too.
        s3_object = params.get("Image", {}).get("S3Object", {})
        bucket = resolve("bucket", str(s3_object.get("Bucket", "")))
        return [Grant("rekognition:DetectLabels", "*"),
                *_s3_objects(bucket, [str(s3_object.get("Name", ""))], "s3:GetObject")]
    raise UnknownOperation(f"{service}:{operation}")


def logs_grants() -> list[Grant]:
    """What every Lambda function needs to write its own logs (and nothing else's)."""
    return [Grant(action, f"{LOG_GROUP}:*")
            for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")]


def sqs_event_source_grants() -> list[Grant]:
    """What Lambda's SQS poller does with the function's own role (the code never calls these)."""
    return [Grant(action, QUEUE)
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")]
