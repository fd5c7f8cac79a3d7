"""Deploy the whole stage to an embedded moto server, then delete it again and find nothing left.

The stateful resources come from infra/resources.yaml (local/resources.py's applier, as `make run`
does); the functions, roles, policies, API and triggers from `chalice package --pkg-format terraform`
(the same package tests/test_packaging.py inspects), created resource by resource through boto3 the way
Terraform would. moto runs no Lambda code without Docker, but it creates functions, roles, mappings and
notifications, and refuses malformed ones.

Emulator gaps shimmed here, in the test only:
- moto's PutBucketNotificationConfiguration expects filter rule names in lower case (`prefix`); real
  S3 (and Chalice) write `Prefix`.
- moto's API Gateway imports only OpenAPI 3 and Chalice emits Swagger 2.0: the REST API is created
  path by path (resources, methods, Lambda proxy integrations) instead of imported.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from test_packaging import STAGE
from test_packaging import package as package  # noqa: F401  (the module-scoped fixture)

from local.resources import apply_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
SERVICES = ("s3", "dynamodb", "sqs", "cognito-idp", "iam", "lambda", "apigateway", "events")


@pytest.fixture(scope="module")
def aws(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch_module.setenv(name, value)
    session = boto3.session.Session(region_name=REGION)
    yield {name: session.client(name, endpoint_url=f"http://127.0.0.1:{port}") for name in SERVICES}
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _ref(expression: Any, created: dict[str, dict[str, str]]) -> Any:
    """Resolve Terraform's `${aws_thing.name.attr}` references to what this test created."""
    if not isinstance(expression, str) or not expression.startswith("${"):
        return expression
    kind, name, attr = expression[2:-1].split(".")[:3]
    return created[f"{kind}.{name}"][attr]


def deploy_package(aws: dict[str, Any], tf: dict[str, Any], zip_bytes: bytes, stack: Any) -> dict[str, Any]:
    """Create every resource of Chalice's Terraform output, in dependency order."""
    resources = tf["resource"]
    created: dict[str, dict[str, str]] = {}
    for name, role in resources.get("aws_iam_role", {}).items():
        arn = aws["iam"].create_role(
            RoleName=role["name"], AssumeRolePolicyDocument=role["assume_role_policy"]
        )["Role"]["Arn"]
        created[f"aws_iam_role.{name}"] = {"arn": arn, "name": role["name"], "id": role["name"]}
    for item in resources.get("aws_iam_role_policy", {}).values():
        aws["iam"].put_role_policy(
            RoleName=_ref(item["role"], created), PolicyName=item["name"], PolicyDocument=item["policy"]
        )
    for name, fn in resources.get("aws_lambda_function", {}).items():
        made = aws["lambda"].create_function(
            FunctionName=fn["function_name"],
            Runtime=fn["runtime"],
            Role=_ref(fn["role"], created),
            Handler=fn["handler"],
            Code={"ZipFile": zip_bytes},
            MemorySize=fn["memory_size"],
            Timeout=fn["timeout"],
            Environment={"Variables": fn["environment"]["variables"]},
        )
        created[f"aws_lambda_function.{name}"] = {
            "arn": made["FunctionArn"],
            "function_name": fn["function_name"],
            "invoke_arn": made["FunctionArn"],
        }
    for mapping in resources.get("aws_lambda_event_source_mapping", {}).values():
        aws["lambda"].create_event_source_mapping(
            EventSourceArn=stack.outputs["WorkQueueArn"],
            FunctionName=_ref(mapping["function_name"], created),
            BatchSize=mapping["batch_size"],
        )
    for notification in resources.get("aws_s3_bucket_notification", {}).values():
        configs = [
            {
                "LambdaFunctionArn": _ref(f["lambda_function_arn"], created),
                "Events": f["events"],
                # moto wants lower-case filter rule names (real S3: "Prefix")
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f["filter_prefix"]}]}},
            }
            for f in notification["lambda_function"]
        ]
        aws["s3"].put_bucket_notification_configuration(
            Bucket=notification["bucket"], NotificationConfiguration={"LambdaFunctionConfigurations": configs}
        )
    for rule in resources.get("aws_cloudwatch_event_rule", {}).values():
        aws["events"].put_rule(Name=rule["name"], ScheduleExpression=rule["schedule_expression"])
    for target in resources.get("aws_cloudwatch_event_target", {}).values():
        rule_name = _ref(
            target["rule"],
            {
                **created,
                **{
                    f"aws_cloudwatch_event_rule.{k}": {"name": v["name"], "id": v["name"]}
                    for k, v in resources.get("aws_cloudwatch_event_rule", {}).items()
                },
            },
        )
        aws["events"].put_targets(Rule=rule_name, Targets=[{"Id": "1", "Arn": _ref(target["arn"], created)}])
    for api in resources.get("aws_api_gateway_rest_api", {}).values():
        body = api["body"]
        if body.startswith("${local."):
            body = tf["locals"][body[len("${local.") : -1]]
        _create_api(aws["apigateway"], json.loads(body) if isinstance(body, str) else body, created)
    return created


def _create_api(apigw: Any, swagger: dict[str, Any], created: dict[str, dict[str, str]]) -> None:
    """Swagger 2.0 -> resources and proxy integrations (moto imports only OpenAPI 3)."""
    api_id = apigw.create_rest_api(name=swagger["info"]["title"], description="gallery")["id"]
    ids = {"/": next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")}
    api_arn = next(
        v["arn"]
        for k, v in created.items()
        if k.startswith("aws_lambda_function.") and v["function_name"].endswith(f"-{STAGE}")
    )
    for path, methods in sorted(swagger["paths"].items()):
        parent = "/"
        for part in [p for p in path.split("/") if p]:
            current = parent.rstrip("/") + "/" + part
            if current not in ids:
                ids[current] = apigw.create_resource(restApiId=api_id, parentId=ids[parent], pathPart=part)[
                    "id"
                ]
            parent = current
        for method in methods:
            if method.startswith("x-"):
                continue
            apigw.put_method(
                restApiId=api_id, resourceId=ids[path], httpMethod=method.upper(), authorizationType="NONE"
            )
            apigw.put_integration(
                restApiId=api_id,
                resourceId=ids[path],
                httpMethod=method.upper(),
                type="AWS_PROXY",
                integrationHttpMethod="POST",
                uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{api_arn}/invocations",
            )
    apigw.create_deployment(restApiId=api_id, stageName="api")


def leftovers(aws: dict[str, Any]) -> dict[str, list[str]]:
    """Everything that still exists in the emulated account."""
    return {
        "buckets": [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]],
        "tables": aws["dynamodb"].list_tables()["TableNames"],
        "queues": aws["sqs"].list_queues().get("QueueUrls", []),
        "pools": [p["Id"] for p in aws["cognito-idp"].list_user_pools(MaxResults=60)["UserPools"]],
        "roles": [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]],
        "functions": [f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]],
        "mappings": [m["UUID"] for m in aws["lambda"].list_event_source_mappings()["EventSourceMappings"]],
        "apis": [a["id"] for a in aws["apigateway"].get_rest_apis()["items"]],
        "rules": [r["Name"] for r in aws["events"].list_rules()["Rules"]],
    }


def delete_everything(aws: dict[str, Any], stack: Any) -> None:
    """What `make destroy PURGE=1` removes: the Chalice app, then the stack with its retained data."""
    lam, iam = aws["lambda"], aws["iam"]
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    for fn in lam.list_functions()["Functions"]:
        lam.delete_function(FunctionName=fn["FunctionName"])
    for rule in aws["events"].list_rules()["Rules"]:
        targets = aws["events"].list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if targets:
            aws["events"].remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
        aws["events"].delete_rule(Name=rule["Name"])
    for api in aws["apigateway"].get_rest_apis()["items"]:
        aws["apigateway"].delete_rest_api(restApiId=api["id"])
    for role in iam.list_roles()["Roles"]:
        for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            iam.delete_role_policy(RoleName=role["RoleName"], PolicyName=name)
        iam.delete_role(RoleName=role["RoleName"])
    out = stack.outputs
    bucket = out["PhotoBucketName"]
    keys = [{"Key": o["Key"]} for o in aws["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        aws["s3"].delete_objects(Bucket=bucket, Delete={"Objects": keys})
    aws["s3"].delete_bucket(Bucket=bucket)
    aws["dynamodb"].delete_table(TableName=out["PhotoTableName"])
    for url in (out["WorkQueueUrl"], out["DeadLetterQueueUrl"]):
        aws["sqs"].delete_queue(QueueUrl=url)
    aws["cognito-idp"].delete_user_pool_client(UserPoolId=out["UserPoolId"], ClientId=out["UserPoolClientId"])
    aws["cognito-idp"].delete_user_pool(UserPoolId=out["UserPoolId"])


def test_the_stage_deploys_to_the_emulator_and_leaves_nothing_behind(aws, package: Path) -> None:
    from deploy import deploy as deployer

    assert not any(leftovers(aws).values()), "the emulated account starts empty"
    stack = apply_template(
        {k: aws[k] for k in ("s3", "dynamodb", "sqs", "cognito-idp")},
        {"Stage": STAGE},
        account_id=ACCOUNT,
        region=REGION,
    )
    tf = json.loads((package / "chalice.tf.json").read_text())
    # The package was filled with example values; name the emulator's real resources instead.
    text = json.dumps(tf)
    example = deployer.example_values(STAGE, ACCOUNT, REGION)
    for name in ("PhotoBucketName", "PhotoTableName", "WorkQueueUrl", "WorkQueueName"):
        text = text.replace(example[name], stack.outputs[name])
    tf = json.loads(text)
    deploy_package(aws, tf, (package / "deployment.zip").read_bytes(), stack)

    there = leftovers(aws)
    assert sorted(there["functions"]) == sorted(
        deployer.lambda_name(STAGE, f)
        for f in ("api_handler", "handle_upload", "handle_work", "purge_trash", "check_stuck")
    )
    assert len(there["roles"]) == 5 and len(there["mappings"]) == 1 and len(there["apis"]) == 1
    notification = aws["s3"].get_bucket_notification_configuration(Bucket=stack.outputs["PhotoBucketName"])
    (trigger,) = notification["LambdaFunctionConfigurations"]
    assert trigger["Filter"]["Key"]["FilterRules"][0]["Value"] == "uploads/"
    (mapping,) = aws["lambda"].list_event_source_mappings()["EventSourceMappings"]
    assert mapping["EventSourceArn"] == stack.outputs["WorkQueueArn"] and mapping["BatchSize"] == 1
    api_id = there["apis"][0]
    paths = {r["path"] for r in aws["apigateway"].get_resources(restApiId=api_id, limit=500)["items"]}
    assert {"/", "/images", "/images/{photo_id}", "/feed"} <= paths

    delete_everything(aws, stack)
    assert leftovers(aws) == {k: [] for k in leftovers(aws)}
