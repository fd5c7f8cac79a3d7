"""Fixtures for end-to-end tests: a real local stack (`python -m local.run`) in a child process.

Each stack gets free ports and a throwaway state directory, so it runs beside a developer's
`make run`. It is a child process because moto's state is global to a process, and because stopping
it with SIGINT is exactly what Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from local.stack import DEMO_PASSWORD, DEMO_USERNAME, free_port  # noqa: E402

START_TIMEOUT_S = 90  # generous: the machine has 2 cores and other suites may be running


@dataclass
class StackProcess:
    """`python -m local.run` on its own ports and state directory; start() waits until it serves."""

    state_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    aws_port: int = field(default_factory=free_port)
    startup_s: float = 0.0
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        started = time.monotonic()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "local.run", "--port", str(self.port), "--aws-port", str(self.aws_port),
             "--state-dir", str(self.state_dir),
             # Others edit app.py while suites run: a reload mid-test would drop connections.
             "--no-autoreload"],
            cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = started + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"local stack exited with {self._proc.returncode}:\n{self.log_text()}")
            if "Ctrl-C to stop" in self.log_text():
                self.startup_s = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"local stack did not start within {START_TIMEOUT_S} s:\n{self.log_text()}")

    def stop(self) -> int:
        """Ctrl-C, and the exit status (killed after a minute: a hang is a failure, not a stuck suite)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if self._log is not None:
            self._log.close()
        return rc


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Any]:
    """Makes stacks that share one state directory (to test restarts); stops any left running."""
    started: list[StackProcess] = []
    state_dir = tmp_path / "state"

    def make(log_name: str = "stack.log") -> StackProcess:
        stack = StackProcess(state_dir=state_dir, log_path=tmp_path / log_name)
        started.append(stack)
        stack.start()
        return stack

    yield make
    for stack in started:
        stack.stop()


def login(base_url: str, *, username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD) -> requests.Session:
    """A session that sends the user's bearer token: logs in through the API like the web UI."""
    response = requests.post(f"{base_url}/auth/login", json={"username": username, "password": password},
                             timeout=30)
    assert response.status_code == 200, response.text
    tokens = response.json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tokens.get('id_token') or tokens['access_token']}"
    return session


@pytest.fixture
def authenticated_session() -> Any:
    """`authenticated_session(base_url, username=..., password=...)`: see `login`."""
    return login
