"""The Lambda packages `chalice package` builds for a stage: what they contain and whether it loads.

One `chalice package --stage dev --pkg-format terraform` per session (deploy.deploy.package, in a
reused copy of the project under .local/package/, so Chalice's cache of the wheels it downloads from
PyPI survives between runs). The python3.11 runtime is Amazon Linux 2 with glibc 2.26: every compiled
extension must come from a manylinux wheel for glibc 2.17 (manylinux2014) or older, and link only
libraries that are in the zip or in the runtime's base system. The Terraform output also shows the
whole deployment offline: every function, the REST API, the S3 trigger on `uploads/` and the SQS one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import deploy as deployer  # noqa: E402
from deploy import policy  # noqa: E402

STAGE = "dev"
GLIBC_MAX = (2, 26)  # Amazon Linux 2, under the python3.11 runtime
# Libraries the python3.11 runtime (Amazon Linux 2) provides and manylinux2014 lets wheels rely on.
RUNTIME_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libnsl.so.1",
    "libcrypt.so.1",
    "ld-linux-x86-64.so.2",
    "libz.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
}
MAX_ZIP_BYTES = 50 * 1024 * 1024  # Lambda's limit for a zip uploaded directly
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


_BUILT: dict[str, Path] = {}  # one package per session, shared with tests/test_deploy_emulator.py


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".chalice" / "policy-api_handler.json").exists():
        pytest.fail("no .chalice/policy-<function>.json: run `make policy`")
    if STAGE not in _BUILT:
        out = tmp_path_factory.mktemp("package") / "out"
        _BUILT[STAGE] = deployer.package(STAGE, out, workdir=ROOT / ".local" / "package" / f"test-{STAGE}")
    return _BUILT[STAGE]


@pytest.fixture(scope="module")
def terraform(package: Path) -> dict[str, Any]:
    return json.loads((package / "chalice.tf.json").read_text())


@pytest.fixture(scope="module")
def stage_config() -> dict[str, Any]:
    return deployer.read_config()["stages"][STAGE]


def _resources(tf: dict[str, Any], kind: str) -> dict[str, Any]:
    return tf["resource"].get(kind, {})


def test_every_function_has_its_memory_timeout_and_own_role(terraform, stage_config) -> None:
    functions = _resources(terraform, "aws_lambda_function")
    by_name = {f["function_name"]: f for f in functions.values()}
    for name, settings in stage_config["lambda_functions"].items():
        function = by_name[deployer.lambda_name(STAGE, name)]
        assert function["runtime"] == "python3.11"
        assert function["memory_size"] == settings["lambda_memory_size"], name
        assert function["timeout"] == settings["lambda_timeout"], name
        env = function["environment"]["variables"]
        assert env["STAGE"] == STAGE and not any("${" in v for v in env.values()), env
    roles = {f["role"] for f in functions.values()}
    assert len(roles) == len(functions), "each function runs with its own role (its own policy)"


def test_each_role_holds_its_functions_filled_policy(terraform, stage_config) -> None:
    policies = [json.loads(p["policy"]) for p in _resources(terraform, "aws_iam_role_policy").values()]
    values = deployer.example_values(STAGE)
    env = stage_config["environment_variables"]
    for name in stage_config["lambda_functions"]:
        expected = deployer.stage_policy(name, STAGE, values, env)
        assert expected in policies, f"{name}'s filled policy is not any role's policy"


def test_the_plan_has_the_api_and_both_event_sources(terraform) -> None:
    assert _resources(terraform, "aws_api_gateway_rest_api")
    assert _resources(terraform, "aws_api_gateway_deployment")
    (notification,) = _resources(terraform, "aws_s3_bucket_notification").values()
    (trigger,) = notification["lambda_function"]
    assert notification["bucket"] == deployer.example_values(STAGE)["PhotoBucketName"]
    assert trigger["filter_prefix"] == "uploads/"
    assert trigger["events"] == ["s3:ObjectCreated:*"]
    assert "handle_upload" in trigger["lambda_function_arn"]
    (mapping,) = _resources(terraform, "aws_lambda_event_source_mapping").values()
    assert mapping["batch_size"] == 1
    assert deployer.example_values(STAGE)["WorkQueueName"] in json.dumps(mapping["event_source_arn"])
    assert "handle_work" in mapping["function_name"]
    assert _resources(terraform, "aws_cloudwatch_event_rule"), "purge_trash's schedule"


def _wheel_tags(archive: zipfile.ZipFile) -> dict[str, tuple[str, list[str]]]:
    """Top-level names (packages, modules, `<x>.libs`) -> (distribution, its WHEEL tags)."""
    owners: dict[str, tuple[str, list[str]]] = {}
    for name in archive.namelist():
        if not name.endswith(".dist-info/WHEEL"):
            continue
        dist_info = name.rsplit("/", 1)[0]
        tags = re.findall(r"^Tag: (\S+)$", archive.read(name).decode(), flags=re.M)
        record = archive.read(f"{dist_info}/RECORD").decode()
        for line in record.splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top and not top.endswith(".dist-info"):
                owners[top] = (dist_info, tags)
    return owners


def _glibc_ok(tag: str) -> bool:
    platform = tag.split("-")[-1]
    if platform == "any":
        return True
    if platform.startswith(("manylinux1_", "manylinux2010_", "manylinux2014_")):
        return platform.endswith("x86_64")
    match = re.match(r"manylinux_(\d+)_(\d+)_x86_64$", platform)
    return bool(match) and (int(match[1]), int(match[2])) <= GLIBC_MAX


def test_compiled_extensions_come_from_wheels_the_runtime_can_load(package: Path) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        owners = _wheel_tags(archive)
        problems = []
        for name in archive.namelist():
            if not re.search(r"\.so(\.|$)", name):
                continue
            owner = owners.get(name.split("/", 1)[0])
            if owner is None:
                problems.append(f"{name}: belongs to no installed wheel (compiled from source?)")
            elif not any(_glibc_ok(tag) for tag in owner[1]):
                problems.append(f"{name}: from {owner[0]} tagged {owner[1]}, newer than glibc 2.26")
    assert not problems, "\n".join(problems)


def _elf_needs(path: Path) -> tuple[list[str], list[tuple[int, int]]]:
    """DT_NEEDED libraries and GLIBC_x.y symbol versions an ELF file requires (`objdump -p`)."""
    text = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"^\s+NEEDED\s+(\S+)$", text, flags=re.M)
    versions = [(int(a), int(b)) for a, b in re.findall(r"\bGLIBC_(\d+)\.(\d+)", text)]
    return needed, versions


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils) to read ELF headers")
def test_extensions_link_only_bundled_or_runtime_libraries(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        names = archive.namelist()
        bundled = {n.rsplit("/", 1)[-1] for n in names}
        shared = [n for n in names if re.search(r"\.so(\.|$)", n)]
        archive.extractall(tmp_path, members=shared)
    problems = []
    for name in shared:
        needed, versions = _elf_needs(tmp_path / name)
        missing = [lib for lib in needed if lib not in bundled and lib not in RUNTIME_LIBS]
        if missing:
            problems.append(f"{name} links {missing}, in neither the zip nor the runtime")
        if versions and max(versions) > GLIBC_MAX:
            problems.append(f"{name} needs GLIBC_{'.'.join(map(str, max(versions)))}")
    assert shared, "the package has no compiled extension at all: is Pillow missing?"
    assert not problems, "\n".join(problems)


def test_the_package_fits_lambda(package: Path) -> None:
    path = package / "deployment.zip"
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        names = archive.namelist()
    zipped = path.stat().st_size
    print(f"\ndeployment.zip: {zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped")
    assert zipped < MAX_ZIP_BYTES and unzipped < MAX_UNZIPPED_BYTES
    assert "app.py" in names and "chalicelib/web/index.html" in names
    assert not any(n.startswith(("tests/", "local/", "deploy/", "bench/")) for n in names)


def test_importing_the_app_does_not_load_pillow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in deployer.ENV_PLACEHOLDERS}
    env.update(AWS_DEFAULT_REGION="us-east-1", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            modules[match[4]] = int(match[2])
    assert "PIL" not in modules and "pillow_heif" not in modules, "the API's cold start must not load Pillow"
    print(
        f"\nimport app: {modules['app'] / 1e6:.2f} s cumulative, boto3 {modules.get('boto3', 0) / 1e6:.2f} s"
    )


def test_committed_policies_name_every_function_of_the_stage(stage_config) -> None:
    for name, settings in stage_config["lambda_functions"].items():
        assert settings["iam_policy_file"] == policy.stage_policy_name(STAGE, name)
        assert policy.template_path(name).exists(), name


@pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform is not installed (`which terraform`)"
)
def test_terraform_validates_the_package(package: Path, tmp_path: Path) -> None:
    work = tmp_path / "tf"
    shutil.copytree(package, work)
    config = json.loads((work / "chalice.tf.json").read_text())
    # Chalice pins Terraform < 1.4 and the AWS provider < 5: relax the pins to validate with newer.
    config.get("terraform", {}).pop("required_version", None)
    providers = config.get("terraform", {}).get("required_providers", {})
    for provider in providers.values():
        if isinstance(provider, dict):
            provider.pop("version", None)
    # Chalice declares an unused `null_data_source` (app and stage names only); the offline plugin
    # mirror has no `null` provider, so leave it out of the copy that is validated.
    if "data.null_data_source" not in json.dumps(config["resource"]):
        providers.pop("null", None)
        config.get("data", {}).pop("null_data_source", None)
    (work / "chalice.tf.json").write_text(json.dumps(config))
    mirror = Path("/opt/tf-plugins")
    init = ["terraform", "init", "-backend=false", "-input=false"]
    if mirror.exists():
        init.append(f"-plugin-dir={mirror}")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(init, cwd=work, capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"terraform init found no AWS provider offline: {done.stderr[-300:]}")
    valid = subprocess.run(
        ["terraform", "validate", "-json"], cwd=work, capture_output=True, text=True, env=env, timeout=120
    )
    assert json.loads(valid.stdout)["valid"], valid.stdout
