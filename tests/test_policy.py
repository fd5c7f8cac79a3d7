"""The per-function IAM policies (.chalice/policy-<function>.json) and the map they are made from.

The full check (every call of the whole suite is allowed; after a complete green run, nothing is
allowed that no call needed) runs at the end of every pytest session, in tests/policy_recorder.py.
These tests pin the parts: the IAM rules of deploy/iam_map.py, the comparison, the committed files'
shape, and one end-to-end scenario whose calls must all be allowed, in any test order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import photo_bytes
from policy_recorder import functions_of_app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import deploy as deployer  # noqa: E402
from deploy import iam_map, policy  # noqa: E402
from deploy.iam_map import Grant, grants_for  # noqa: E402

BUCKET, TABLE, QUEUE, POOL = "b", "t", "q", "p"
NAMES = {"bucket": BUCKET, "table": TABLE, "queue": QUEUE, "pool": POOL}


def resolve(kind: str, name: str) -> str:
    return iam_map.KIND_PLACEHOLDERS[kind] if NAMES[kind] == name else f"UNKNOWN {kind} {name}"


B, T, Q, P = iam_map.BUCKET, iam_map.TABLE, iam_map.QUEUE, iam_map.POOL


# deploy/iam_map.py


def test_copy_needs_get_on_the_source_and_put_on_the_destination() -> None:
    params = {
        "Bucket": BUCKET,
        "Key": "originals/a/1",
        "CopySource": {"Bucket": BUCKET, "Key": "uploads/a/1"},
    }
    assert set(grants_for("s3", "CopyObject", params, resolve)) == {
        Grant("s3:GetObject", f"{B}/uploads/*"),
        Grant("s3:PutObject", f"{B}/originals/*"),
    }


def test_delete_objects_needs_delete_object_on_every_prefix() -> None:
    params = {
        "Bucket": BUCKET,
        "Delete": {
            "Objects": [
                {"Key": "uploads/a/1"},
                {"Key": "renditions/a/1/256.jpg"},
                {"Key": "renditions/a/1/1024.jpg"},
            ]
        },
    }
    assert grants_for("s3", "DeleteObjects", params, resolve) == [
        Grant("s3:DeleteObject", f"{B}/renditions/*"),
        Grant("s3:DeleteObject", f"{B}/uploads/*"),
    ]


def test_listing_is_list_bucket_limited_to_the_prefix() -> None:
    (grant,) = grants_for("s3", "ListObjectsV2", {"Bucket": BUCKET, "Prefix": "renditions/a/1/"}, resolve)
    assert grant.action == "s3:ListBucket" and grant.resource == B
    assert json.loads(grant.condition) == {"StringLike": {"s3:prefix": ["renditions/*"]}}


def test_head_and_get_need_list_bucket_so_a_missing_key_is_a_404() -> None:
    for operation in ("HeadObject", "GetObject"):
        assert set(grants_for("s3", operation, {"Bucket": BUCKET, "Key": "originals/a/1"}, resolve)) == {
            Grant("s3:GetObject", f"{B}/originals/*"),
            Grant("s3:ListBucket", B),
        }


def test_a_presigned_url_needs_the_action_it_grants_and_nothing_more() -> None:
    params = {"Bucket": BUCKET, "Key": "uploads/a/1", "ContentType": "image/jpeg"}
    assert grants_for("s3", "PutObject", params, resolve, presigned=True) == [
        Grant("s3:PutObject", f"{B}/uploads/*")
    ]
    assert grants_for(
        "s3", "GetObject", {"Bucket": BUCKET, "Key": "renditions/a/1/256.jpg"}, resolve, presigned=True
    ) == [Grant("s3:GetObject", f"{B}/renditions/*")]


def test_a_query_on_an_index_needs_the_index_arn() -> None:
    assert grants_for("dynamodb", "Query", {"TableName": TABLE, "IndexName": "feed"}, resolve) == [
        Grant("dynamodb:Query", f"{T}/index/feed")
    ]
    assert grants_for("dynamodb", "BatchWriteItem", {"RequestItems": {TABLE: []}}, resolve) == [
        Grant("dynamodb:BatchWriteItem", T)
    ]


def test_queue_calls_and_cognito_admin_calls_need_grants_but_public_cognito_calls_do_not() -> None:
    assert grants_for("sqs", "GetQueueUrl", {"QueueName": QUEUE}, resolve) == [Grant("sqs:GetQueueUrl", Q)]
    assert grants_for("sqs", "SendMessage", {"QueueUrl": f"https://sqs/1/{QUEUE}"}, resolve) == [
        Grant("sqs:SendMessage", Q)
    ]
    assert grants_for("cognito-idp", "AdminDeleteUser", {"UserPoolId": POOL}, resolve) == [
        Grant("cognito-idp:AdminDeleteUser", P)
    ]
    assert grants_for("cognito-idp", "InitiateAuth", {"ClientId": "c"}, resolve) == []


def test_an_unknown_operation_or_resource_is_an_error_not_a_star() -> None:
    with pytest.raises(iam_map.UnknownOperation):
        grants_for("s3", "PutBucketPolicy", {"Bucket": BUCKET}, resolve)
    with pytest.raises(iam_map.UnknownOperation):
        grants_for("kms", "Decrypt", {}, resolve)
    (grant,) = grants_for("s3", "PutObject", {"Bucket": "someone-elses", "Key": "x/y"}, resolve)
    assert grant.resource.startswith("UNKNOWN")


# deploy/policy.py


def _log(calls: list[tuple[str, Grant]]) -> dict[str, Any]:
    return {
        "functions": {"api_handler": "api", "handle_work": "sqs"},
        "calls": [{"function": fn, "grants": [[g.action, g.resource, g.condition]]} for fn, g in calls],
    }


def test_compare_finds_calls_not_allowed_and_grants_not_used() -> None:
    put, get = Grant("s3:PutObject", f"{B}/uploads/*"), Grant("s3:GetObject", f"{B}/originals/*")
    required = policy.required_grants(_log([("api_handler", put)]))
    assert Grant("sqs:ReceiveMessage", Q) in required["handle_work"], "the SQS poller's own grants"
    committed = {fn: policy.document(grants) for fn, grants in required.items()}
    assert not policy.compare(required, committed).lines()

    narrower = {**committed, "api_handler": policy.document(required["api_handler"] - {put})}
    assert policy.compare(required, narrower).missing == {"api_handler": {put}}
    wider = {**committed, "api_handler": policy.document(required["api_handler"] | {get})}
    assert policy.compare(required, wider).unused == {"api_handler": {get}}
    assert policy.compare(required, {"api_handler": None}).no_policy == ["api_handler", "handle_work"]


def test_a_prefix_limited_listing_is_allowed_by_the_plain_grant_on_its_bucket() -> None:
    """A partial run may list one prefix only, where the whole run (and so the policy) lists plainly."""
    plain = Grant("s3:ListBucket", B)
    limited = Grant("s3:ListBucket", B, '{"StringLike":{"s3:prefix":["renditions/*"]}}')
    required = policy.required_grants(_log([("api_handler", limited)]))
    committed = {fn: policy.document(grants) for fn, grants in required.items()}
    committed["api_handler"] = policy.document((required["api_handler"] - {limited}) | {plain})
    assert not policy.compare(required, committed).missing
    other = Grant("s3:ListBucket", B.replace("Photo", "Other"))
    committed["api_handler"] = policy.document((required["api_handler"] - {limited}) | {other})
    assert policy.compare(required, committed).missing == {"api_handler": {limited}}


def test_lint_refuses_wildcard_actions_and_star_resources() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": [f"{B}/uploads/*"]},
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:us-east-1:1:other"},
        ],
    }
    problems = policy.lint(bad)
    assert len(problems) == 3, problems


# The committed files


def _templates() -> dict[str, dict[str, Any]]:
    found = {fn: policy.load_template(fn) for fn in functions_of_app()}
    missing = [fn for fn, doc in found.items() if doc is None]
    assert not missing, f"no .chalice/policy-<function>.json for {missing}: run `make policy`"
    return {fn: doc for fn, doc in found.items() if doc is not None}


def test_every_function_has_a_narrow_committed_policy() -> None:
    for function, document in _templates().items():
        assert policy.lint(document) == [], function
        actions = {g.action for g in policy.grants_of(document)}
        assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions, function


def test_only_the_api_signs_up_and_only_the_queue_worker_reads_the_queue() -> None:
    templates = _templates()
    grants = {fn: {g.action for g in policy.grants_of(doc)} for fn, doc in templates.items()}
    assert "sqs:ReceiveMessage" in grants["handle_work"]
    assert not any("sqs:ReceiveMessage" in actions for fn, actions in grants.items() if fn != "handle_work")
    assert not any(a.startswith("cognito-idp:") for a in grants["handle_upload"])


def test_deployed_stages_use_the_filled_per_function_policies() -> None:
    config = deployer.read_config()
    for stage in ("dev", "prod"):
        functions = config["stages"][stage]["lambda_functions"]
        assert set(functions) == set(functions_of_app()), stage
        values = deployer.example_values(stage)
        env = config["stages"][stage]["environment_variables"]
        for function in functions:
            filled = json.dumps(deployer.stage_policy(function, stage, values, env))
            assert "${" not in filled
            assert "AdminConfirmSignUp" not in filled, "a stage without AUTO_CONFIRM does not get it"
    assert "test" not in config["stages"], "tests use stage 'test' with their own settings"


def test_tracing_is_one_switch_for_active_tracing_and_its_grants() -> None:
    values = deployer.example_values("dev")
    for tracing in ("true", "false"):
        config = deployer.read_config()
        config["stages"]["dev"]["environment_variables"]["TRACING"] = tracing
        stage = deployer.fill_stage(config, "dev", values)["stages"]["dev"]
        env = stage["environment_variables"]
        for function in stage["lambda_functions"]:
            grants = policy.grants_of(deployer.stage_policy(function, "dev", values, env))
            traced = {g for g in grants if g.action.startswith("xray:")}
            if tracing == "true":
                assert stage["xray"] is True
                assert traced == {Grant("xray:PutTelemetryRecords", "*"), Grant("xray:PutTraceSegments", "*")}
            else:
                assert "xray" not in stage and not traced
    cleared = deployer.fill_stage(config, "dev", {})["stages"]["dev"]
    assert "xray" not in cleared, "config.json goes back to what is committed"


# One scenario through the app, checked against the committed policies whatever ran before.


def test_a_photos_life_makes_only_calls_its_functions_may_make(gallery, client, stack, aws_calls) -> None:
    photo = gallery.upload_ready(photo_bytes("Landscape_1.jpg"))
    assert gallery.get(photo["id"]).status == 200
    started = gallery.request(
        "POST", "/uploads", {"filename": "b.jpg", "content_type": "image/jpeg", "size": 1000}
    )
    assert started.status == 201
    assert gallery.request("DELETE", f"/images/{photo['id']}").status == 204

    functions = {c["function"] for c in aws_calls}
    assert {"api_handler", "handle_upload"} <= functions
    assert any(c["presigned"] and c["operation"] == "PutObject" for c in aws_calls), "presigned PUT counted"
    assert [c["error"] for c in aws_calls if c["error"]] == []
    templates = _templates()
    for call in aws_calls:
        allowed = policy.grants_of(templates[call["function"]])
        for grant in call["grants"]:
            needed = Grant(*grant)
            assert needed in allowed or Grant(needed.action, needed.resource) in allowed, (call, needed)
