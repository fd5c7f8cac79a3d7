"""Apply infra/resources.yaml to the local emulator, resource by resource, through boto3.

moto's own CloudFormation does not create Cognito pools, queue policies or bucket notifications, so
this is a small applier for exactly the resource types the template uses. It resolves the intrinsics
the template may use (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals/Not/And/Or, Fn::Join, Fn::Select)
and refuses any property it does not know: a property added to the template fails `make run` loudly
instead of silently existing only in the cloud. There is no second copy of the definitions.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "resources.yaml"

Clients = Mapping[str, Any]  # service name ("s3", "dynamodb", "sqs", "cognito-idp") -> boto3 client
NO_VALUE = object()  # AWS::NoValue: drops the property or list item that holds it


class TemplateError(ValueError):
    """The template uses something this applier cannot reproduce locally."""


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Read the template; long-form intrinsics only, so plain YAML."""
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclass
class Created:
    """What one applied resource answers to `Ref` and `Fn::GetAtt`."""

    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """A template applied with some parameters: resolved resources and outputs."""

    parameters: dict[str, Any]
    resources: dict[str, Created]
    outputs: dict[str, Any]


class _Resolver:
    """Evaluates intrinsic functions against parameters, pseudo parameters and created resources."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], pseudo: dict[str, str]):
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo
        self.created: dict[str, Created] = {}
        self.conditions: dict[str, bool] = {}
        for name, expr in (template.get("Conditions") or {}).items():
            self.conditions[name] = bool(self.resolve(expr))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.created:
            return self.created[name].ref
        raise TemplateError(f"Ref to unknown or not yet created {name!r}")

    def get_att(self, name: str, attr: str) -> str:
        if name not in self.created:
            raise TemplateError(f"Fn::GetAtt on unknown or not yet created {name!r}")
        try:
            return self.created[name].attrs[attr]
        except KeyError:
            raise TemplateError(f"{name} has no attribute {attr!r} locally") from None

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} escapes
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.created:
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic in `value`, recursively; AWS::NoValue drops the entry."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(name, attr)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.conditions[name] else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local applier")
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}


def _dependencies(value: Any) -> set[str]:
    """Logical ids a resource definition refers to (Ref, GetAtt, ${X} and ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _dependencies(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add((arg.split(".", 1) if isinstance(arg, str) else arg)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(arg, str):
                    found |= _dependencies(arg[1])
            else:
                found |= _dependencies(arg)
    return found


def _creation_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids in an order where every resource comes after those it refers to."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise TemplateError(f"circular reference through {name}")
        state[name] = "visiting"
        definition = resources[name]
        deps = _dependencies(definition.get("Properties", {}))
        depends_on = definition.get("DependsOn", [])
        deps |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
        for dep in sorted(deps & resources.keys()):
            visit(dep)
        state[name] = "done"
        order.append(name)

    for name in resources:
        visit(name)
    return order


def _check_known(kind: str, props: dict[str, Any], known: set[str]) -> None:
    unknown = set(props) - known
    if unknown:
        raise TemplateError(
            f"{kind}: the local applier does not handle {sorted(unknown)}; teach local/resources.py"
        )


# --- one function per resource type: create it, answer Ref and GetAtt --------------------------------


def _s3_bucket(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::S3::Bucket", props, {
        "BucketName", "PublicAccessBlockConfiguration", "BucketEncryption", "CorsConfiguration",
        "LifecycleConfiguration", "VersioningConfiguration", "Tags",
    })
    s3 = clients["s3"]
    name = props["BucketName"]
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)  # us-east-1 only: no LocationConstraint
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "BucketEncryption" in props:
        # CloudFormation says ServerSideEncryptionByDefault where the API says ApplyServer...
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
             for k, v in rule.items()}
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]})
    if "CorsConfiguration" in props:
        rules = []
        for rule in props["CorsConfiguration"]["CorsRules"]:
            out: dict[str, Any] = {
                "AllowedMethods": rule["AllowedMethods"], "AllowedOrigins": rule["AllowedOrigins"]
            }
            for cfn_key, api_key in (("Id", "ID"), ("AllowedHeaders", "AllowedHeaders"),
                                     ("ExposedHeaders", "ExposeHeaders"), ("MaxAge", "MaxAgeSeconds")):
                if cfn_key in rule:
                    out[api_key] = rule[cfn_key]
            rules.append(out)
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
            "Rules": [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
        })
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"]["Status"]
        })
    arn = f"arn:{ctx['AWS::Partition']}:s3:::{name}"
    return Created(ref=name, attrs={
        "Arn": arn, "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{ctx['AWS::Region']}.amazonaws.com",
    })


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's flat lifecycle rule in the S3 API's nested shape."""
    _check_known("LifecycleConfiguration rule", rule, {
        "Id", "Status", "Prefix", "ExpirationInDays", "AbortIncompleteMultipartUpload",
        "NoncurrentVersionExpirationInDays", "TagFilters",
    })
    tags = rule.get("TagFilters", [])
    filter_: dict[str, Any] = {"Prefix": rule.get("Prefix", "")}
    if tags:
        filter_ = {"And": {**({"Prefix": rule["Prefix"]} if rule.get("Prefix") else {}), "Tags": tags}}
    out: dict[str, Any] = {"Status": rule["Status"], "Filter": filter_}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    return out


def _s3_bucket_policy(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::S3::BucketPolicy", props, {"Bucket", "PolicyDocument"})
    # The emulator speaks plain HTTP on 127.0.0.1 (and moto evaluates bucket policies), so a
    # statement that denies insecure transport would deny everything locally: it applies only on AWS.
    document = dict(props["PolicyDocument"])
    document["Statement"] = [
        st for st in document.get("Statement", [])
        if "aws:SecureTransport" not in json.dumps(st.get("Condition", {}))
    ]
    if document["Statement"]:
        clients["s3"].put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))
    return Created(ref=props["Bucket"])


def _dynamodb_table(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::DynamoDB::Table", props, {
        "TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes", "TimeToLiveSpecification", "PointInTimeRecoverySpecification",
        "SSESpecification", "DeletionProtectionEnabled", "StreamSpecification", "Tags",
    })
    ddb = clients["dynamodb"]
    name = props["TableName"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "Tags"):
        if key in props:
            kwargs[key] = props[key]
    if "SSESpecification" in props:
        kwargs["SSESpecification"] = {"Enabled": props["SSESpecification"].get("SSEEnabled", False)}
    if "DeletionProtectionEnabled" in props:
        kwargs["DeletionProtectionEnabled"] = props["DeletionProtectionEnabled"]
    try:
        description = ddb.create_table(**kwargs)["TableDescription"]
    except ddb.exceptions.ResourceInUseException:
        description = ddb.describe_table(TableName=name)["Table"]
    if "TimeToLiveSpecification" in props:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    if "PointInTimeRecoverySpecification" in props:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"]
        )
    attrs = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attrs["StreamArn"] = description["LatestStreamArn"]
    return Created(ref=name, attrs=attrs)


_SQS_ATTRIBUTES = {
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication",
}


def _sqs_queue(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::SQS::Queue", props, {"QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags"}
                 | _SQS_ATTRIBUTES)
    sqs = clients["sqs"]
    attributes = {
        key: (str(value).lower() if isinstance(value, bool) else str(value))
        for key, value in props.items() if key in _SQS_ATTRIBUTES
    }
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = json.dumps(props[key])
    url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Created(ref=url, attrs={"Arn": arn, "QueueName": props["QueueName"], "QueueUrl": url})


# CloudFormation property -> CreateUserPool parameter, where the names differ.
_USER_POOL_RENAMES = {"UserPoolName": "PoolName", "UserPoolTags": "UserPoolTags"}
_USER_POOL_PROPS = {
    "UserPoolName", "UsernameConfiguration", "Schema", "AutoVerifiedAttributes", "AccountRecoverySetting",
    "AdminCreateUserConfig", "Policies", "MfaConfiguration", "DeletionProtection", "UsernameAttributes",
    "AliasAttributes", "UserPoolTags", "VerificationMessageTemplate", "EmailConfiguration",
}


def _cognito_user_pool(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::Cognito::UserPool", props, _USER_POOL_PROPS)
    idp = clients["cognito-idp"]
    kwargs = {_USER_POOL_RENAMES.get(k, k): v for k, v in props.items()}
    pool = idp.create_user_pool(**kwargs)["UserPool"]
    pool_id = pool["Id"]
    provider = f"cognito-idp.{ctx['AWS::Region']}.amazonaws.com/{pool_id}"
    return Created(ref=pool_id, attrs={
        "Arn": pool["Arn"], "UserPoolId": pool_id, "ProviderName": provider,
        "ProviderURL": f"https://{provider}",
    })


_CLIENT_PROPS = {
    "ClientName", "UserPoolId", "GenerateSecret", "ExplicitAuthFlows", "AccessTokenValidity",
    "IdTokenValidity", "RefreshTokenValidity", "TokenValidityUnits", "PreventUserExistenceErrors",
    "EnableTokenRevocation", "CallbackURLs", "LogoutURLs", "AllowedOAuthFlows", "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient", "SupportedIdentityProviders", "ReadAttributes", "WriteAttributes",
}


def _cognito_user_pool_client(clients: Clients, props: dict[str, Any], ctx: dict[str, str]) -> Created:
    _check_known("AWS::Cognito::UserPoolClient", props, _CLIENT_PROPS)
    client = clients["cognito-idp"].create_user_pool_client(**props)["UserPoolClient"]
    client_id = client["ClientId"]
    return Created(ref=client_id, attrs={"ClientId": client_id, "Name": client["ClientName"]})


APPLIERS: dict[str, Callable[[Clients, dict[str, Any], dict[str, str]], Created]] = {
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _s3_bucket_policy,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::Cognito::UserPool": _cognito_user_pool,
    "AWS::Cognito::UserPoolClient": _cognito_user_pool_client,
}


# Monitoring only: CloudWatch alarms and dashboards watch AWS's own metrics, which the emulator does not
# produce (locally the app's EMF metrics are plain log lines). Skipped on purpose, not an oversight.
MONITORING_ONLY = {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"}


def _parameter_values(template: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Given values over defaults; CommaDelimitedList parameters become lists, as in CloudFormation."""
    values: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif spec.get("Type") == "Number" and isinstance(value, str):
            value = float(value) if "." in value else int(value)  # boto3 wants numbers, not "37"
        values[name] = value
    unknown = set(given) - values.keys()
    if unknown:
        raise TemplateError(f"unknown parameters {sorted(unknown)}")
    return values


def apply_template(
    clients: Clients,
    parameters: Mapping[str, Any],
    *,
    template: dict[str, Any] | None = None,
    account_id: str = "123456789012",
    region: str = "us-east-1",
) -> Stack:
    """Create every resource of the template (in dependency order) and resolve its outputs."""
    template = template if template is not None else load_template()
    params = _parameter_values(template, parameters)
    pseudo = {
        "AWS::AccountId": account_id, "AWS::Region": region, "AWS::Partition": "aws",
        "AWS::StackName": f"gallery-{params.get('Stage', 'local')}", "AWS::URLSuffix": "amazonaws.com",
    }
    resolver = _Resolver(template, params, pseudo)
    resources = template["Resources"]
    for name in _creation_order(resources):
        definition = resources[name]
        if "Condition" in definition and not resolver.conditions[definition["Condition"]]:
            continue
        kind = definition["Type"]
        if kind in MONITORING_ONLY:
            continue
        if kind not in APPLIERS:
            raise TemplateError(f"{name}: resource type {kind} is not supported by the local applier")
        props = resolver.resolve(definition.get("Properties", {}))
        resolver.created[name] = APPLIERS[kind](clients, props, pseudo)
    outputs = {
        name: resolver.resolve(spec["Value"])
        for name, spec in (template.get("Outputs") or {}).items()
        if "Condition" not in spec or resolver.conditions[spec["Condition"]]
    }
    return Stack(parameters=params, resources=resolver.created, outputs=outputs)
