"""infra/resources.yaml: lints clean, keeps its promises, matches docs/architecture.md, applies locally."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.resources import TEMPLATE_PATH, apply_template, load_template

ROOT = Path(__file__).resolve().parent.parent
PROTECTED_PREFIXES = ("originals/", "renditions/")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _resource(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]
    return found


def _documented_indexes() -> dict[str, tuple[str, str]]:
    """The index table in docs/architecture.md: name -> (hash attribute, range attribute)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("Indexes (", 1)[1].split("\n\n", 1)[0]
    indexes = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        attr = [re.match(r"`([A-Za-z_]+)`", c) for c in cells[1:3]]
        assert all(attr), line
        indexes[cells[0].strip("`")] = (attr[0].group(1), attr[1].group(1))  # type: ignore[union-attr]
    return indexes


def test_template_passes_cfn_lint() -> None:
    api = pytest.importorskip("cfnlint.api")
    # us-east-1 only: Cognito does not exist in every partition, and this is where we deploy.
    matches = api.lint(TEMPLATE_PATH.read_text(encoding="utf-8"), regions=["us-east-1"])
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_template_uses_no_short_form_tags() -> None:
    # `!Ref` and friends are not plain YAML: safe_load and the local applier could not read them.
    assert not re.search(r"(^|\s)!\w", TEMPLATE_PATH.read_text(encoding="utf-8"))


def test_lifecycle_rules_never_touch_originals_or_renditions(template: dict[str, Any]) -> None:
    rules = _resource(template, "AWS::S3::Bucket")["LifecycleConfiguration"]["Rules"]
    assert rules
    for rule in rules:
        if rule.get("TagFilters"):
            # Only objects the app tagged as trashed: never an untagged (live) photo.
            assert rule["TagFilters"] == [{"Key": "gallery-trashed", "Value": "true"}], rule
            continue
        prefix = rule.get("Prefix")
        # A rule without a prefix (or with size filters only) would match every key.
        assert isinstance(prefix, str) and prefix, rule
        for protected in PROTECTED_PREFIXES:
            assert not protected.startswith(prefix) and not prefix.startswith(protected), rule


def test_uploads_expire_after_a_day(template: dict[str, Any]) -> None:
    rules = _resource(template, "AWS::S3::Bucket")["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == 1
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_bucket_is_private_and_encrypted(template: dict[str, Any]) -> None:
    bucket = _resource(template, "AWS::S3::Bucket")
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedOrigins"] == {"Ref": "AllowedOrigins"}
    assert set(cors["AllowedMethods"]) == {"GET", "PUT", "POST"}


def test_indexes_match_architecture_doc(template: dict[str, Any]) -> None:
    table = _resource(template, "AWS::DynamoDB::Table")
    defined = {}
    for gsi in table["GlobalSecondaryIndexes"]:
        keys = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
        defined[gsi["IndexName"]] = (keys["HASH"], keys["RANGE"])
        assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert defined == _documented_indexes()
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == dict.fromkeys(
        {"PK", "SK"} | {attr for pair in defined.values() for attr in pair}, "S"
    )
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_work_queue_outlives_the_worker_and_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = template["Resources"]["WorkQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * 60
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield {s: boto3.client(s, region_name="us-east-1") for s in ("s3", "dynamodb", "sqs", "cognito-idp")}


def test_template_applies_locally_with_names_from_the_stage(aws: dict[str, Any]) -> None:
    stack = apply_template(aws, {"Stage": "local", "AllowedOrigins": "http://127.0.0.1:8000"})
    out = stack.outputs
    assert out["PhotoBucketName"] == "gallery-local-photos-123456789012"
    assert out["PhotoTableName"] == "gallery-local"
    assert out["WorkQueueName"] == "gallery-local-work"
    assert out["DeadLetterQueueName"] == "gallery-local-work-dlq"
    table = aws["dynamodb"].describe_table(TableName="gallery-local")["Table"]
    assert table.get("DeletionProtectionEnabled") is not True  # only prod
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == set(_documented_indexes())
    client = aws["cognito-idp"].describe_user_pool_client(
        UserPoolId=out["UserPoolId"], ClientId=out["UserPoolClientId"]
    )["UserPoolClient"]
    assert "ClientSecret" not in client
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    cors = aws["s3"].get_bucket_cors(Bucket=out["PhotoBucketName"])["CORSRules"]
    assert cors[0]["AllowedOrigins"] == ["http://127.0.0.1:8000"]


def test_prod_turns_deletion_protection_on(aws: dict[str, Any]) -> None:
    apply_template(aws, {"Stage": "prod"})
    table = aws["dynamodb"].describe_table(TableName="gallery-prod")["Table"]
    assert table["DeletionProtectionEnabled"] is True
