"""Fixtures for browser tests: one real local stack per session, and headless Chromium via Playwright.

The stack is `python -m local.run` on free ports with a throwaway state directory (as the e2e tests
run it). Chromium is Debian's (`make browser` installs it): Playwright's own browser download is not
available here, so it is launched by path.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ARTIFACTS = ROOT / "test-artifacts"
sys.path.insert(0, str(ROOT))

from local.stack import free_port  # noqa: E402

playwright_api = pytest.importorskip("playwright.sync_api")
playwright_api.expect.set_options(timeout=15_000)  # a loaded 2-core machine; a pass is still quick

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
START_TIMEOUT_S = 90
PASSWORD = "browser-pass-1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def http() -> requests.Session:
    """A session that retries dropped connections (the stack runs without the autoreloader, which
    restarted the server whenever another suite wrote a file under the project, cutting responses
    off half way; retries stay for a server that is still starting)."""
    session = requests.Session()
    retry = Retry(total=10, connect=10, read=4, status=0, backoff_factor=0.2, allowed_methods=None)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


class Stack:
    """`python -m local.run` in a child process; `url` is where the app (and the web UI) answers."""

    def __init__(self, state_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.aws_port = free_port()
        self.state_dir = state_dir
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "local.run", "--port", str(self.port),
                 "--aws-port", str(self.aws_port), "--state-dir", str(self.state_dir), "--no-demo-user",
                 "--no-autoreload"],
                cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"local stack exited with {self._proc.returncode}:\n{self.log_text()}")
            if "Ctrl-C to stop" in self.log_text():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"local stack did not start within {START_TIMEOUT_S} s:\n{self.log_text()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def signup(self, username: str, password: str = PASSWORD) -> None:
        """An account made through the API (for tests whose subject is not the sign-up form)."""
        response = http().post(f"{self.url}/auth/signup", timeout=30, json={
            "username": username, "email": f"{username}@example.com", "password": password})
        assert response.status_code in (201, 409), response.text  # 409: a retry after a lost answer


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("browser-stack")
    stack = Stack(work / "state", work / "stack.log")
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make browser`")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Any, stack: Stack) -> Iterator[Any]:
    """`new_context(viewport=PHONE, ...)`: a fresh browser profile (no storage), closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("base_url", stack.url)
        options.setdefault("reduced_motion", "reduce")  # no fades: screenshots show the settled page
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def username() -> str:
    return "u" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where screenshots go: test-artifacts/ (git-ignored), copied there once the tests are done.

    Not written there directly: `chalice local` restarts the app whenever a file under the project
    changes, and a restart in the middle of a test only makes it slower.
    """
    shots = tmp_path_factory.mktemp("screenshots")
    yield shots
    ARTIFACTS.mkdir(exist_ok=True)
    for png in shots.glob("*.png"):
        shutil.copy2(png, ARTIFACTS / png.name)
