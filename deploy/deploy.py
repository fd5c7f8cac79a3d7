"""Deploy the gallery to AWS for real, and take it down again: `make deploy` / `make destroy`.

deploy:  create-or-update the CloudFormation stack `gallery-<stage>` from infra/resources.yaml, read
         its outputs, keep a random cursor secret in SSM Parameter Store (the same across deploys),
         write the outputs into the stage's environment variables in .chalice/config.json and the
         filled per-function policies into .chalice/policy-<stage>-<function>.json (git-ignored),
         then `chalice deploy --stage <stage>`, and allow the API's origin in the bucket's CORS.
destroy: `chalice delete --stage <stage>` and delete the functions' log groups. The stack stays: at
         rest it costs only the photos and records it stores. With --purge also empty and delete the
         bucket, the table and the user pool (all DeletionPolicy Retain), the stack and the secret.
package: `chalice package --pkg-format terraform` of a stage, in a copy of the project whose
         placeholders are filled (from the stack when it exists, else with example values).

Every step is idempotent: run either again after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploy import policy

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
TEMPLATE = ROOT / "infra" / "resources.yaml"
APP_NAME = "gallery"

# Stage environment variable -> placeholder (stack output name, or CursorSecret).
ENV_PLACEHOLDERS = {
    "PHOTOS_BUCKET": "${PhotoBucketName}",
    "PHOTOS_TABLE": "${PhotoTableName}",
    "WORK_QUEUE_NAME": "${WorkQueueName}",
    "WORK_QUEUE_URL": "${WorkQueueUrl}",
    "USER_POOL_ID": "${UserPoolId}",
    "USER_POOL_CLIENT_ID": "${UserPoolClientId}",
    "CURSOR_SECRET": "${CursorSecret}",
}
# Grants that only some stage settings need: dropped from a stage's policy when the setting is off.
CONDITIONAL_ACTIONS = {"cognito-idp:AdminConfirmSignUp": "AUTO_CONFIRM"}
# TRACING=true in a stage's environment is the one switch for X-Ray: it also turns on Chalice's active
# tracing (`xray`) and grants the segment uploads, which X-Ray only grants on resource "*". No test run
# records them (the SDK sends to the Lambda's daemon, not through boto3), so they are added here.
XRAY_STATEMENT = {
    "Sid": "XRayTraces",
    "Effect": "Allow",
    "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
    "Resource": "*",
}


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def lambda_name(stage: str, function: str) -> str:
    """Chalice's name for a function: the API handler is `<app>-<stage>`, others add their name."""
    return f"{APP_NAME}-{stage}" if function == "api_handler" else f"{APP_NAME}-{stage}-{function}"


def secret_parameter(stage: str) -> str:
    return f"/{APP_NAME}/{stage}/cursor-secret"


def example_values(stage: str, account: str = "123456789012", region: str = "us-east-1") -> dict[str, str]:
    """Outputs shaped like the stack's, for packaging without a stack (and for offline tests)."""
    bucket = f"{APP_NAME}-{stage}-photos-{account}"
    queue = f"{APP_NAME}-{stage}-work"
    return {
        "PhotoBucketName": bucket, "PhotoBucketArn": f"arn:aws:s3:::{bucket}",
        "PhotoTableName": f"{APP_NAME}-{stage}",
        "PhotoTableArn": f"arn:aws:dynamodb:{region}:{account}:table/{APP_NAME}-{stage}",
        "WorkQueueName": queue, "WorkQueueUrl": f"https://sqs.{region}.amazonaws.com/{account}/{queue}",
        "WorkQueueArn": f"arn:aws:sqs:{region}:{account}:{queue}",
        "UserPoolId": f"{region}_EXAMPLE", "UserPoolClientId": "exampleclientid",
        "UserPoolArn": f"arn:aws:cognito-idp:{region}:{account}:userpool/{region}_EXAMPLE",
        "CursorSecret": "example-only-not-a-secret", "Region": region, "AccountId": account,
    }


# config.json and policy files


def read_config(path: Path = CONFIG) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_config(config: Mapping[str, Any], path: Path = CONFIG) -> None:
    path.write_text(json.dumps(config, indent=2) + "\n")


def functions_of(config: Mapping[str, Any], stage: str) -> list[str]:
    return sorted(config["stages"][stage].get("lambda_functions", {}))


def fill_stage(config: dict[str, Any], stage: str, values: Mapping[str, str]) -> dict[str, Any]:
    """The config with `stage`'s environment set from `values` (None: back to the placeholders)."""
    stage_config = config["stages"][stage]
    env = stage_config.setdefault("environment_variables", {})
    for name, placeholder in ENV_PLACEHOLDERS.items():
        env[name] = policy.fill(placeholder, values) if values else placeholder
    env["STAGE"] = stage
    if values and _on(env.get("TRACING")):
        stage_config["xray"] = True
    else:
        stage_config.pop("xray", None)
    for function, settings in stage_config.get("lambda_functions", {}).items():
        settings["iam_policy_file"] = policy.stage_policy_name(stage, function)
    return config


def stage_policy(function: str, stage: str, values: Mapping[str, str], env: Mapping[str, str],
                 chalice_dir: Path = ROOT / ".chalice") -> dict[str, Any]:
    """The committed template of `function`, filled for `stage` and trimmed to its settings."""
    template = json.loads((chalice_dir / f"policy-{function}.json").read_text())
    off = {action for action, setting in CONDITIONAL_ACTIONS.items() if not _on(env.get(setting))}
    log_group = (f"arn:aws:logs:{values['Region']}:{values['AccountId']}:log-group:/aws/lambda/"
                 f"{lambda_name(stage, function)}")
    document = policy.fill(policy.without_actions(template, off), {**values, "LogGroupArn": log_group})
    if _on(env.get("TRACING")):
        document["Statement"].append(dict(XRAY_STATEMENT))
    return document


def write_stage_files(stage: str, values: Mapping[str, str], project: Path = ROOT) -> None:
    """Fill the stage's environment in config.json and write its per-function policies."""
    config_path = project / ".chalice" / "config.json"
    config = fill_stage(read_config(config_path), stage, values)
    write_config(config, config_path)
    env = config["stages"][stage]["environment_variables"]
    for function in functions_of(config, stage):
        document = stage_policy(function, stage, values, env, project / ".chalice")
        (project / ".chalice" / policy.stage_policy_name(stage, function)).write_text(
            json.dumps(document, indent=2) + "\n")


def clear_stage_files(stage: str, project: Path = ROOT) -> None:
    config_path = project / ".chalice" / "config.json"
    config = fill_stage(read_config(config_path), stage, {})
    write_config(config, config_path)
    for function in functions_of(config, stage):
        (project / ".chalice" / policy.stage_policy_name(stage, function)).unlink(missing_ok=True)


# CloudFormation


def _boto(service: str, region: str | None = None, endpoint_url: str | None = None) -> Any:
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def _stack(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def apply_stack(cfn: Any, stage: str, origins: list[str]) -> dict[str, str]:
    """Create or update the stack; returns its outputs. "No updates are to be performed" is success."""
    name = stack_name(stage)
    parameters = [{"ParameterKey": "Stage", "ParameterValue": stage},
                  {"ParameterKey": "AllowedOrigins", "ParameterValue": ",".join(origins)}]
    existing = _stack(cfn, name)
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        # A first create that failed leaves a stack that can only be deleted.
        print(f"{name} is ROLLBACK_COMPLETE from a failed create: deleting it first")
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name)
        existing = None
    body = TEMPLATE.read_text()
    if existing is None:
        print(f"creating stack {name}")
        cfn.create_stack(StackName=name, TemplateBody=body, Parameters=parameters,
                         Tags=[{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}])
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 5,
                                                                                   "MaxAttempts": 120})
    else:
        if existing["StackStatus"].endswith("_IN_PROGRESS"):
            print(f"{name} is {existing['StackStatus']}: waiting")
            waiter = "stack_create_complete" if existing["StackStatus"].startswith("CREATE") \
                else "stack_update_complete"
            cfn.get_waiter(waiter).wait(StackName=name)
        try:
            cfn.update_stack(StackName=name, TemplateBody=body, Parameters=parameters)
            print(f"updating stack {name}")
            cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 5,
                                                                                       "MaxAttempts": 120})
        except cfn.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            print(f"stack {name} is up to date")
    stack = _stack(cfn, name)
    assert stack is not None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def cursor_secret(ssm: Any, stage: str) -> str:
    """The stage's cursor secret, created once (random) and kept in SSM across deploys."""
    name = secret_parameter(stage)
    try:
        return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        value = secrets.token_urlsafe(32)
        ssm.put_parameter(Name=name, Value=value, Type="SecureString",
                          Description="HMAC key for the gallery's pagination cursors")
        return value


# Chalice


def chalice(*args: str, cwd: Path = ROOT, env: Mapping[str, str] | None = None) -> None:
    executable = Path(sys.executable).parent / "chalice"
    command = [str(executable if executable.exists() else "chalice"), *args]
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd, check=True, env=None if env is None else dict(env))


def deployed_url(stage: str, project: Path = ROOT) -> str | None:
    path = project / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return str(resource["rest_api_url"])
    return None


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def deploy(stage: str, extra_origins: list[str]) -> str:
    if stage not in read_config()["stages"] or stage in ("local", "test"):
        raise SystemExit(f"no deployable stage {stage!r} in .chalice/config.json")
    cfn, ssm, sts = _boto("cloudformation"), _boto("ssm"), _boto("sts")
    identity = sts.get_caller_identity()
    region = cfn.meta.region_name
    previous = deployed_url(stage)
    origins = sorted({*extra_origins, *([_origin(previous)] if previous else [])}) or ["http://localhost:8000"]
    outputs = apply_stack(cfn, stage, origins)
    values = {**outputs, "CursorSecret": cursor_secret(ssm, stage), "Region": region,
              "AccountId": identity["Account"]}
    write_stage_files(stage, values)
    chalice("deploy", "--stage", stage)
    url = deployed_url(stage)
    if url and _origin(url) not in origins:
        # First deploy: the API's origin exists only now; let browsers upload to the bucket from it.
        apply_stack(cfn, stage, sorted({*origins, _origin(url)} - {"http://localhost:8000"}))
    print(f"\nAPI URL: {url}")
    return url or ""


def _empty_bucket(s3: Any, bucket: str) -> None:
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start:start + 1000], "Quiet": True})


def destroy(stage: str, purge: bool) -> None:
    config = read_config()
    if stage not in config["stages"] or stage in ("local", "test"):
        raise SystemExit(f"no deployable stage {stage!r} in .chalice/config.json")
    if (ROOT / ".chalice" / "deployed" / f"{stage}.json").exists():
        chalice("delete", "--stage", stage)
    logs = _boto("logs")
    for function in functions_of(config, stage):
        try:
            logs.delete_log_group(logGroupName=f"/aws/lambda/{lambda_name(stage, function)}")
            print(f"deleted log group /aws/lambda/{lambda_name(stage, function)}")
        except logs.exceptions.ResourceNotFoundException:
            pass
    cfn = _boto("cloudformation")
    stack = _stack(cfn, stack_name(stage))
    if not purge:
        clear_stage_files(stage)
        if stack:
            kept = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            print(f"kept stack {stack_name(stage)} with your data: bucket {kept.get('PhotoBucketName')}, "
                  f"table {kept.get('PhotoTableName')}, user pool {kept.get('UserPoolId')}.\n"
                  "At rest it costs only what it stores (docs/deploy.md). "
                  f"`make destroy STAGE={stage} PURGE=1` deletes it all.")
        return
    if stack:
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        cfn.delete_stack(StackName=stack_name(stage))
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name(stage))
        print(f"deleted stack {stack_name(stage)}")
        _delete_retained(outputs)
    ssm = _boto("ssm")
    with contextlib.suppress(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=secret_parameter(stage))
    clear_stage_files(stage)
    print("purged: nothing of this stage is left")


def _delete_retained(outputs: Mapping[str, str]) -> None:
    """Delete what the template retains on stack deletion: bucket, table, user pool."""
    s3, ddb, idp = _boto("s3"), _boto("dynamodb"), _boto("cognito-idp")
    bucket = outputs.get("PhotoBucketName")
    if bucket:
        try:
            _empty_bucket(s3, bucket)
            s3.delete_bucket(Bucket=bucket)
            print(f"deleted bucket {bucket}")
        except s3.exceptions.NoSuchBucket:
            pass
    table = outputs.get("PhotoTableName")
    if table:
        try:
            ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
            ddb.get_waiter("table_exists").wait(TableName=table)
            for _ in range(60):
                if ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE":
                    break
                time.sleep(2)
            ddb.delete_table(TableName=table)
            print(f"deleted table {table}")
        except ddb.exceptions.ResourceNotFoundException:
            pass
    pool = outputs.get("UserPoolId")
    if pool:
        try:
            idp.update_user_pool(UserPoolId=pool, DeletionProtection="INACTIVE",
                                 **_pool_settings(idp.describe_user_pool(UserPoolId=pool)["UserPool"]))
            idp.delete_user_pool(UserPoolId=pool)
            print(f"deleted user pool {pool}")
        except idp.exceptions.ResourceNotFoundException:
            pass


def _pool_settings(pool: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateUserPool resets what it is not given: pass back the settings that matter."""
    keep = ("Policies", "AutoVerifiedAttributes", "AccountRecoverySetting", "AdminCreateUserConfig",
            "MfaConfiguration")
    return {k: pool[k] for k in keep if k in pool}


def package(stage: str, out: Path, values: Mapping[str, str] | None = None,
            workdir: Path | None = None, pkg_format: str = "terraform") -> Path:
    """`chalice package` of `stage` in a filled copy of the project; returns the output directory.

    The copy lives in `workdir` (default .local/package/<stage>) and is reused, so Chalice's cache of
    downloaded wheels (its .chalice/deployments/) survives between runs.
    """
    work = workdir or ROOT / ".local" / "package" / stage
    (work / ".chalice").mkdir(parents=True, exist_ok=True)
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, work / name)
    if (work / "chalicelib").exists():
        shutil.rmtree(work / "chalicelib")
    shutil.copytree(ROOT / "chalicelib", work / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in (ROOT / ".chalice").glob("policy-*.json"):
        if path.name.count("-") == 1:  # templates only
            shutil.copy2(path, work / ".chalice" / path.name)
    shutil.copy2(CONFIG, work / ".chalice" / "config.json")
    write_stage_files(stage, values or example_values(stage), project=work)
    if out.exists():
        shutil.rmtree(out)
    # Chalice imports app.py with the stage's variables set; keep the caller's (tests') out of it.
    env = {k: v for k, v in os.environ.items() if k not in ENV_PLACEHOLDERS and k != "AWS_ENDPOINT_URL"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    chalice("package", "--stage", stage, "--pkg-format", pkg_format, str(out), cwd=work, env=env)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["deploy", "destroy", "package"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--purge", action="store_true", help="destroy: also delete the photos, records "
                                                             "and accounts")
    parser.add_argument("--origin", action="append", default=[], help="deploy: another web origin for CORS")
    parser.add_argument("--out", type=Path, default=None, help="package: output directory")
    args = parser.parse_args(argv)
    if args.command == "deploy":
        deploy(args.stage, args.origin)
    elif args.command == "destroy":
        destroy(args.stage, args.purge)
    else:
        values = None
        try:
            cfn = _boto("cloudformation")
            stack = _stack(cfn, stack_name(args.stage))
            if stack:
                identity = _boto("sts").get_caller_identity()
                values = {**{o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
                          "CursorSecret": "not-packaged", "Region": cfn.meta.region_name,
                          "AccountId": identity["Account"]}
        except Exception as error:  # no credentials, no network: package with example values
            print(f"no stack to read ({type(error).__name__}): packaging with example values")
        out = package(args.stage, args.out or ROOT / ".local" / "build" / f"package-{args.stage}", values)
        print(f"packaged into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
