"""The local stack: emulator, resources, saved state, event delivery and `chalice local`, as one object.

    with LocalStack(port=8000, aws_port=5000, state_dir=Path(".local")) as stack:
        print(stack.url)

Start order matters: resources come from infra/resources.yaml, saved data is restored *before* the
bucket notification is installed (so restored uploads are not processed again), and `chalice local`
starts last, when everything it talks to exists. Stop order is the reverse, with a final snapshot once
no handler is running.

moto's state is global to the process, so run one LocalStack per process: tests start
`python -m local.run` as a child (see tests/e2e/conftest.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.state import write_atomic

log = logging.getLogger("local.stack")

PROJECT_DIR = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"  # moto's default account: bucket names contain it
REGION = "us-east-1"
STAGE = "local"
S3_EVENTS_QUEUE = "gallery-local-s3-events"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-1"

# Fixed, fake, and set before moto is imported: moto reads its id strategies from the environment.
EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # Same pool and client ids on every start, so tokens and bookmarks survive a restart.
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The stage's environment_variables from .chalice/config.json, which `chalice local` applies last."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return {k: str(v) for k, v in env.items()}


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_s3_events_queue(sqs: Any) -> str:
    """Local-only: S3 notifications go to this queue, and a dispatcher hands them to handle_upload.

    Three deliveries, then a dead-letter queue: like Lambda's asynchronous invoke (one try, two
    retries), which S3 uses in the cloud.
    """
    dlq = sqs.create_queue(QueueName=f"{S3_EVENTS_QUEUE}-dlq")["QueueUrl"]
    return str(sqs.create_queue(QueueName=S3_EVENTS_QUEUE, Attributes={
        "VisibilityTimeout": "120",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": _queue_arn(sqs, dlq), "maxReceiveCount": 3}),
    })["QueueUrl"])


def install_bucket_notification(clients: dict[str, Any], bucket: str, queue_url: str) -> None:
    """`s3:ObjectCreated:*` under `uploads/` to the queue, as Chalice's on_s3_event does for Lambda."""
    clients["s3"].put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{
            "Id": "uploads-to-handle-upload",
            "QueueArn": _queue_arn(clients["sqs"], queue_url),
            "Events": ["s3:ObjectCreated:*"],
            # moto matches filter rule names in lower case only (real S3 accepts both).
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
        }]},
    )


def _check_port_free(port: int) -> None:
    with socket.socket() as s:
        # As the servers themselves bind: a restart must not trip over its own TIME_WAIT sockets.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(f"port {port} is in use (another `make run`?); choose others with "
                               "--port/--aws-port or PORT=/AWS_PORT=") from None


def _group_cmdlines(pgid: int) -> list[bytes]:
    """Command lines of the live processes in process group `pgid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pgrp is the 3rd field after the parenthesised command name, which may contain spaces.
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append((stat.parent / "cmdline").read_bytes())
        except (OSError, ValueError, IndexError):
            continue
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests running a second stack)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStack:
    """Everything `make run` starts; a context manager that stops it all and saves state on exit."""

    port: int = 8000
    aws_port: int = 5000
    state_dir: Path = PROJECT_DIR / ".local"
    demo_user: bool = True
    snapshot_interval_s: float = 1.0
    retry_delay_s: int = 5
    autoreload: bool = True  # off for tests: an edit elsewhere in the repo must not restart the server
    chalice_output: IO[Any] | None = None  # None: inherit this process's stdout/stderr

    outputs: dict[str, Any] = field(default_factory=dict, init=False)
    env: dict[str, str] = field(default_factory=dict, init=False)
    restored: dict[str, int] = field(default_factory=dict, init=False)
    _emulator: Any = field(default=None, init=False)
    _store: Any = field(default=None, init=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False)
    _dispatchers: list[Any] = field(default_factory=list, init=False)
    _chalice: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _stop_saving: threading.Event = field(default_factory=threading.Event, init=False)
    _saver: threading.Thread | None = field(default=None, init=False)
    _saved_generations: dict[str, int] = field(default_factory=dict, init=False)
    _lock_file: IO[Any] | None = field(default=None, init=False)
    _queue_urls: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        # Before anything else: were the API port taken, the readiness check below would be answered
        # by whoever holds it.
        self._lock_state_dir()
        self._reap_stale_chalice()
        for port in (self.port, self.aws_port):
            _check_port_free(port)
        os.environ.update(EMULATOR_ENV)
        os.environ.pop("AWS_PROFILE", None)  # never let a developer's real profile leak in
        import boto3  # after the environment: moto and boto3 read it

        from local.emulator import MotoServer
        from local.resources import apply_template
        from local.state import StateStore

        self._emulator = MotoServer(port=self.aws_port)
        self._emulator.start()
        self._clients = {
            s: boto3.client(s, endpoint_url=self.aws_endpoint, region_name=REGION)
            for s in ("s3", "dynamodb", "sqs", "cognito-idp")
        }
        origins = ",".join(f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost"))
        self.outputs = apply_template(
            self._clients, {"Stage": STAGE, "AllowedOrigins": origins}, account_id=ACCOUNT_ID, region=REGION
        ).outputs
        s3_events_url = create_s3_events_queue(self._clients["sqs"])

        self._store = StateStore(self.state_dir, self._clients, account_id=ACCOUNT_ID, region=REGION)
        self.restored = self._store.restore(**self._persisted())
        # Only now: restored uploads must not look like new ones.
        install_bucket_notification(self._clients, self.outputs["PhotoBucketName"], s3_events_url)
        self._queue_urls = {
            name: self._clients["sqs"].get_queue_url(QueueName=name)["QueueUrl"]
            for name in (self.outputs["WorkQueueName"], self.outputs["DeadLetterQueueName"],
                         S3_EVENTS_QUEUE, f"{S3_EVENTS_QUEUE}-dlq")
        }
        self.restored["messages"] = self._store.restore_queues(self._clients["sqs"], self._queue_urls)
        self._saved_generations = self._emulator.changes.snapshot()
        self._saver = threading.Thread(target=self._save_periodically, name="snapshotter", daemon=True)
        self._saver.start()

        self.env = self._app_environment()
        os.environ.update(self.env)
        os.environ.update(stage_environment())  # as `chalice local` does for its routes
        self._start_dispatchers(s3_events_url)
        self._start_chalice()
        if self.demo_user:
            self._ensure_demo_user()

    def _lock_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.state_dir / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{self.state_dir} is in use by another local stack; stop it, or give this one its own "
                "state directory (--state-dir)"
            ) from None

    def _ensure_demo_user(self) -> None:
        """Sign the demo account up through the app, so it gets what any account gets (its profile).

        AUTO_CONFIRM (local stage) confirms it at once; 409 means it exists from a previous run.
        """
        body = json.dumps({"username": DEMO_USERNAME, "email": "demo@example.com", "password": DEMO_PASSWORD})
        request = urllib.request.Request(f"{self.url}/auth/signup", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        for _ in range(50):  # the autoreloader may be between two workers: retry refused connections
            try:
                with urllib.request.urlopen(request, timeout=10):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    log.warning("could not create the demo user: %s %s", exc.code, exc.read()[:200])
                return
            except OSError:
                time.sleep(0.1)
        log.warning("could not create the demo user: %s does not answer", self.url)

    def _persisted(self) -> dict[str, Any]:
        return {
            "buckets": [self.outputs["PhotoBucketName"]],
            "tables": [self.outputs["PhotoTableName"]],
            "pools": {self.outputs["UserPoolId"]: f"gallery-{STAGE}"},
        }

    def _app_environment(self) -> dict[str, str]:
        """What the app needs beyond .chalice/config.json: everything that depends on this run."""
        out = self.outputs
        return {
            **EMULATOR_ENV,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "STAGE": STAGE,
            "PHOTOS_BUCKET": out["PhotoBucketName"],
            "PHOTOS_TABLE": out["PhotoTableName"],
            "WORK_QUEUE_NAME": out["WorkQueueName"],
            "WORK_QUEUE_URL": out["WorkQueueUrl"],
            "DEAD_LETTER_QUEUE_URL": out["DeadLetterQueueUrl"],
            "USER_POOL_ID": out["UserPoolId"],
            "USER_POOL_CLIENT_ID": out["UserPoolClientId"],
            "JWKS_URL": f"{self.aws_endpoint}/{out['UserPoolId']}/.well-known/jwks.json",
        }

    def _start_dispatchers(self, s3_events_url: str) -> None:
        from local.dispatch import AppLoader, QueueDispatcher, s3_notification_event

        loader = AppLoader(PROJECT_DIR, reload=self.autoreload)
        loader.get()  # import once now: a broken app.py shows at start, not on the first upload
        sqs = self._clients["sqs"]
        common = {"sqs": sqs, "loader": loader, "region": REGION, "retry_delay_s": self.retry_delay_s}
        self._dispatchers = [
            QueueDispatcher(queue_url=s3_events_url, handler_name="handle_upload",
                            build_event=s3_notification_event, **common),
            QueueDispatcher(queue_url=self.outputs["WorkQueueUrl"], handler_name="handle_work",
                            build_event=None, **common),
        ]
        for dispatcher in self._dispatchers:
            dispatcher.start()

    def _start_chalice(self) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        # The console script, not `python -c`: the autoreloader re-executes sys.argv as it is.
        chalice = Path(sys.executable).parent / "chalice"
        if not chalice.exists():
            chalice = Path(shutil.which("chalice") or "chalice")
        cmd = [str(chalice), "local", "--stage", STAGE, "--port", str(self.port), "--host", "127.0.0.1",
               "--autoreload" if self.autoreload else "--no-autoreload"]
        out = self.chalice_output
        # Its own session: the autoreloader forks a worker, and stop() kills the whole group.
        self._chalice = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, start_new_session=True,
                                         stdout=out, stderr=subprocess.STDOUT if out else None)
        write_atomic(self._chalice_pid_file, str(self._chalice.pid).encode())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._chalice.poll() is not None:
                raise RuntimeError(f"chalice local exited with {self._chalice.returncode} at start")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"chalice local did not listen on port {self.port} within 60 s")

    @property
    def _chalice_pid_file(self) -> Path:
        return self.state_dir / "chalice.pgid"

    def _reap_stale_chalice(self) -> None:
        """A previous run killed with SIGKILL leaves its `chalice local` group serving: end it.

        Only that group (its id is in the state directory, which we hold the lock of), and only if
        a process in it is still a `chalice local`.
        """
        try:
            pgid = int(self._chalice_pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        if any(b"chalice" in cmd and b"local" in cmd for cmd in _group_cmdlines(pgid)):
            log.warning("stopping chalice local (process group %s) left over from a previous run", pgid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.2)
        self._chalice_pid_file.unlink(missing_ok=True)

    def problem(self) -> str | None:
        """Why the stack can no longer serve (its `chalice local` died), or None while it is healthy."""
        if self._chalice is not None and self._chalice.poll() is not None:
            return f"chalice local exited with status {self._chalice.returncode}"
        return None

    # --- persistence ----------------------------------------------------------------------------

    def save(self, services: set[str] | None = None) -> None:
        """Snapshot now: `services` changed since the last save, or everything."""
        if self._store is not None and self.outputs:
            self._store.snapshot(**self._persisted(), services=services)

    def _save_periodically(self) -> None:
        while not self._stop_saving.wait(self.snapshot_interval_s):
            current = self._emulator.changes.snapshot()
            changed = {s for s, g in current.items() if self._saved_generations.get(s) != g}
            if not changed:
                continue
            try:
                self.save(changed)
                self._saved_generations = current
            except Exception:  # e.g. an object deleted between list and get: try again next tick
                log.exception("snapshot of %s failed; retrying", sorted(changed))

    # --- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything this stack started, then save. Safe to call twice or after a failed start."""
        self._stop_chalice()
        for dispatcher in self._dispatchers:
            dispatcher.stop()
        for dispatcher in self._dispatchers:
            dispatcher.join(timeout=120)  # let a running handler finish, so the snapshot is whole
        self._dispatchers = []
        self._stop_saving.set()
        if self._saver is not None:
            self._saver.join(timeout=30)
            self._saver = None
        if self._emulator is not None:
            try:
                self.save()
                if self._queue_urls:  # only once the queues were restored: never overwrite unsent ones
                    self._store.snapshot_queues(list(self._queue_urls))
            except Exception:
                log.exception("final snapshot failed; %s keeps the previous one", self.state_dir)
            self._emulator.stop()
            self._emulator = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _stop_chalice(self) -> None:
        proc, self._chalice = self._chalice, None
        if proc is None:
            return
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # The reloader's worker may outlive its parent for a moment: make sure the group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._chalice_pid_file.unlink(missing_ok=True)
