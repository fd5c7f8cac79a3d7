"""Saving and restoring the emulator's data (local/state.py) against a real moto server.

Given data in S3, DynamoDB and Cognito, when it is snapshotted, the emulator's state is thrown away
and the snapshot restored, then the data is back as it was: bytes, headers, tags, binary attributes,
passwords, statuses and `sub`s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.emulator import MotoServer
from local.stack import free_port
from local.state import StateStore

pytestmark = pytest.mark.e2e

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    server = MotoServer(port=free_port())
    server.start()
    made = {s: boto3.client(s, endpoint_url=server.endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
            for s in ("s3", "dynamodb", "sqs", "cognito-idp")}
    made["reset"] = lambda: requests.post(f"{server.endpoint}/moto-api/reset", timeout=30).raise_for_status()
    yield made
    made["reset"]()
    server.stop()


def _make_resources(clients: dict[str, Any]) -> str:
    clients["s3"].create_bucket(Bucket="state-test")
    clients["dynamodb"].create_table(
        TableName="state-test", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
    )
    return str(clients["cognito-idp"].create_user_pool(PoolName="state-test")["UserPool"]["Id"])


def test_data_survives_a_snapshot_and_restore(clients: dict[str, Any], tmp_path: Path) -> None:
    s3, ddb, idp = clients["s3"], clients["dynamodb"], clients["cognito-idp"]
    pool = _make_resources(clients)
    s3.put_object(Bucket="state-test", Key="originals/u/1", Body=b"\x00photo", ContentType="image/jpeg",
                  Metadata={"sha256": "abc"}, Tagging="gallery-trashed=true")
    s3.put_object(Bucket="state-test", Key="renditions/u/1/256.jpg", Body=b"small")
    ddb.put_item(TableName="state-test", Item={"PK": {"S": "a"}, "blob": {"B": b"\x01\x02"}, "n": {"N": "3"}})
    idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password="Pass-word-1", Permanent=True)
    sub = idp.admin_get_user(UserPoolId=pool, Username="alice")["UserAttributes"]
    store = StateStore(tmp_path, clients, account_id=ACCOUNT, region=REGION)
    persisted = {"buckets": ["state-test"], "tables": ["state-test"], "pools": {pool: "state-test"}}

    store.snapshot(**persisted)
    clients["reset"]()  # as a restart does: an empty emulator
    pool = _make_resources(clients)
    persisted["pools"] = {pool: "state-test"}
    counts = store.restore(**persisted)

    assert counts == {"objects": 2, "items": 1, "users": 1}
    got = s3.get_object(Bucket="state-test", Key="originals/u/1")
    assert got["Body"].read() == b"\x00photo"
    assert got["ContentType"] == "image/jpeg" and got["Metadata"] == {"sha256": "abc"}
    tags = s3.get_object_tagging(Bucket="state-test", Key="originals/u/1")["TagSet"]
    assert tags == [{"Key": "gallery-trashed", "Value": "true"}]
    item = ddb.get_item(TableName="state-test", Key={"PK": {"S": "a"}})["Item"]
    assert item["blob"] == {"B": b"\x01\x02"} and item["n"] == {"N": "3"}
    user = idp.admin_get_user(UserPoolId=pool, Username="alice")
    assert user["UserStatus"] == "CONFIRMED"
    assert [a for a in user["UserAttributes"] if a["Name"] == "sub"] == [a for a in sub if a["Name"] == "sub"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="c", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "alice", "PASSWORD": "Pass-word-1"})
    assert tokens["AuthenticationResult"]["IdToken"]


def test_an_unchanged_object_is_not_downloaded_again(clients: dict[str, Any], tmp_path: Path) -> None:
    s3 = clients["s3"]
    _make_resources(clients)
    s3.put_object(Bucket="state-test", Key="a", Body=b"one")
    store = StateStore(tmp_path, clients, account_id=ACCOUNT, region=REGION)
    store.snapshot_bucket("state-test")
    (blob,) = (tmp_path / "s3" / "state-test" / "blobs").iterdir()
    written = blob.stat().st_mtime_ns

    s3.put_object(Bucket="state-test", Key="b", Body=b"two")
    s3.delete_object(Bucket="state-test", Key="a")
    s3.put_object(Bucket="state-test", Key="c", Body=b"one")  # same bytes as the deleted "a"
    store.snapshot_bucket("state-test")

    assert blob.stat().st_mtime_ns == written  # reused, not rewritten
    assert len(list((tmp_path / "s3" / "state-test" / "blobs").iterdir())) == 2
