"""Per-function IAM policies generated from the AWS calls the test suite saw each function make.

`make policy` runs the suite with tests/policy_recorder.py recording (RECORD_AWS_CALLS=<log>), then
`python -m deploy.policy write <log>` turns the log into `.chalice/policy-<function>.json`: templates
whose resources are placeholders (`${PhotoBucketArn}/uploads/*`...). `make deploy` fills them into
`.chalice/policy-<stage>-<function>.json` (git-ignored), which the stage's `iam_policy_file` names.

Every pytest run checks the committed templates against what it recorded (see the recorder): a call
its function's policy does not allow fails the run, and so does (after a complete, green run) an
action the policy allows but no test made.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.iam_map import Grant, logs_grants, sqs_event_source_grants

ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = ROOT / ".chalice"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
# Logs are the only actions allowed on a resource that is not one of the stack's outputs.
# Services whose actions take no resource ARN (logs are scoped elsewhere; Rekognition's DetectLabels
# only accepts `*`, and the image it reads is granted through s3:GetObject).
NON_DATA_SERVICES = frozenset({"logs", "rekognition"})


def template_path(function: str) -> Path:
    return CHALICE_DIR / f"policy-{function}.json"


def stage_policy_name(stage: str, function: str) -> str:
    """The file name (relative to .chalice/) of a stage's filled policy, as config.json names it."""
    return f"policy-{stage}-{function}.json"


def platform_grants(kind: str) -> set[Grant]:
    """What a function needs for being a Lambda function of its kind, beyond its own calls."""
    grants = set(logs_grants())
    if kind == "sqs":
        grants |= set(sqs_event_source_grants())
    return grants


def normalize(grants: Iterable[Grant]) -> set[Grant]:
    """Drop grants another grant in the set already covers (a prefix-limited ListBucket beside a
    plain one on the same bucket)."""
    grants = set(grants)
    plain = {(g.action, g.resource) for g in grants if not g.condition}
    return {g for g in grants if not g.condition or (g.action, g.resource) not in plain}


def required_grants(log: Mapping[str, Any]) -> dict[str, set[Grant]]:
    """Per function: the grants its recorded calls need plus its platform grants."""
    required: dict[str, set[Grant]] = {name: platform_grants(kind) for name, kind in log["functions"].items()}
    for call in log["calls"]:
        required.setdefault(call["function"], set()).update(Grant(*g) for g in call["grants"])
    return {name: normalize(grants) for name, grants in required.items()}


def _sid(service: str, number: int) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", service)) + str(number)


def document(grants: Iterable[Grant]) -> dict[str, Any]:
    """A policy document: one statement per (service, resources, condition) group, sorted."""
    by_action: dict[tuple[str, str], set[str]] = defaultdict(set)  # (action, condition) -> resources
    for g in grants:
        by_action[(g.action, g.condition)].add(g.resource)
    groups: dict[tuple[str, tuple[str, ...], str], list[str]] = defaultdict(list)
    for (action, condition), resources in by_action.items():
        groups[(action.split(":", 1)[0], tuple(sorted(resources)), condition)].append(action)
    statements = []
    counters: dict[str, int] = defaultdict(int)
    for (service, resources, condition), actions in sorted(groups.items()):
        counters[service] += 1
        statement: dict[str, Any] = {
            "Sid": _sid(service, counters[service]),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": list(resources),
        }
        if condition:
            statement["Condition"] = json.loads(condition)
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants_of(policy: Mapping[str, Any]) -> set[Grant]:
    """Every (action, resource, condition) an Allow-only policy grants."""
    from deploy.iam_map import condition_json

    grants = set()
    for statement in _as_list(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            raise ValueError(f"only Allow statements are expected, got {statement!r}")
        condition = condition_json(statement.get("Condition"))
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                grants.add(Grant(action, resource, condition))
    return normalize(grants)


def lint(policy: Mapping[str, Any]) -> list[str]:
    """Problems that make a policy broader than it must be: wildcard actions, `*` data resources."""
    problems = []
    for g in sorted(grants_of(policy)):
        if "*" in g.action or "?" in g.action:
            problems.append(f"wildcard action {g.action}")
        service = g.action.split(":", 1)[0]
        if service in NON_DATA_SERVICES:
            continue
        if g.resource == "*" or g.resource.startswith("arn:") and g.resource.split(":", 5)[-1] in ("*", ""):
            problems.append(f"{g.action} on resource {g.resource!r}")
        elif not PLACEHOLDER.match(g.resource):
            problems.append(f"{g.action} on {g.resource!r}, which is not one of the stack's resources")
        if "UNKNOWN" in g.resource:
            problems.append(f"{g.action} on a resource outside the stack: {g.resource}")
    return problems


def load_template(function: str) -> dict[str, Any] | None:
    path = template_path(function)
    return json.loads(path.read_text()) if path.exists() else None


@dataclass
class Comparison:
    """Calls a committed policy does not allow, and grants no recorded call needed."""

    missing: dict[str, set[Grant]] = field(default_factory=dict)
    unused: dict[str, set[Grant]] = field(default_factory=dict)
    no_policy: list[str] = field(default_factory=list)

    def lines(self, *, include_unused: bool = True) -> list[str]:
        out = [f"{fn}: no committed .chalice/policy-{fn}.json" for fn in self.no_policy]
        for fn, grants in sorted(self.missing.items()):
            out += [f"{fn}: the code calls {g.action} on {g.resource} {g.condition}".rstrip()
                    + ", which its policy does not allow" for g in sorted(grants)]
        if include_unused:
            for fn, grants in sorted(self.unused.items()):
                out += [f"{fn}: the policy allows {g.action} on {g.resource} {g.condition}".rstrip()
                        + ", which no test made" for g in sorted(grants)]
        return out


def compare(required: Mapping[str, set[Grant]],
            committed: Mapping[str, Mapping[str, Any] | None]) -> Comparison:
    """Compare what the code needs (per function) with what the committed templates allow."""
    result = Comparison()
    for fn in sorted(set(required) | {k for k, v in committed.items() if v is not None}):
        policy = committed.get(fn)
        if policy is None:
            result.no_policy.append(fn)
            continue
        allowed = grants_of(policy)
        need = required.get(fn, set())
        # A call limited by a condition (a ListBucket of one prefix) is allowed by the same grant
        # without one: a partial run may need only the former where the policy has the latter.
        plain = {(g.action, g.resource) for g in allowed if not g.condition}
        missing = {g for g in need - allowed if not (g.condition and (g.action, g.resource) in plain)}
        if missing:
            result.missing[fn] = missing
        if allowed - need:
            result.unused[fn] = allowed - need
    return result


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """Replace every `${Name}` in strings of `value` (recursively); a name without a value is an error."""
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"no value for placeholder ${{{name}}}")
            return values[name]

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def without_actions(policy: Mapping[str, Any], actions: set[str]) -> dict[str, Any]:
    """The policy minus some actions (e.g. AdminConfirmSignUp on a stage that does not auto-confirm)."""
    statements = []
    for statement in policy["Statement"]:
        kept = [a for a in _as_list(statement["Action"]) if a not in actions]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**policy, "Statement": statements}


def write_templates(log: Mapping[str, Any]) -> list[Path]:
    """Write `.chalice/policy-<function>.json` for every function of the recorded run."""
    written = []
    for fn, grants in sorted(required_grants(log).items()):
        path = template_path(fn)
        path.write_text(json.dumps(document(grants), indent=2) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("log", type=Path, help="the JSON log tests/policy_recorder.py wrote")
    parser.add_argument("--force", action="store_true", help="write even after a partial or failing run")
    args = parser.parse_args(argv)
    log = json.loads(args.log.read_text())
    if args.command == "write":
        if not log.get("complete") and not args.force:
            print(f"refusing to write policies from an incomplete run: {log.get('incomplete_reason')}",
                  file=sys.stderr)
            return 1
        errors = [c["error"] for c in log["calls"] if c.get("error")]
        if errors:
            listing = "\n  ".join(sorted(set(errors)))
            print(f"calls that cannot be mapped to IAM:\n  {listing}", file=sys.stderr)
            return 1
        for path in write_templates(log):
            problems = lint(json.loads(path.read_text()))
            print(f"wrote {path.relative_to(ROOT)}" + (f"  PROBLEMS: {problems}" if problems else ""))
            if problems:
                return 1
        return 0
    comparison = compare(required_grants(log), {fn: load_template(fn) for fn in log["functions"]})
    for line in comparison.lines():
        print(line)
    return 1 if comparison.lines() else 0


if __name__ == "__main__":
    sys.exit(main())
