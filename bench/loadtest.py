"""`make loadtest`: the gallery under concurrent use, on a local stack of its own.

    python -m bench.loadtest [--users 10] [--photos 20] [--readers 3] [--timeout 600]

Starts `python -m local.run` on free ports with a throwaway state directory (beside any `make run`),
signs up `--users` accounts, and has each upload `--photos` distinct JPEGs at once through POST /uploads
and the presigned PUT, while `--readers` threads list and read. Then it waits until every photo is
ready and checks: each is listed exactly once, in its owner's gallery only; the invariant checker
(`python -m chalicelib.consistency`) finds nothing wrong; no answer was a 5xx. It prints throughput
and p50/p95/p99 latency per route and ends with one line:

    loadtest: photos=N ready=N lost=N errors_5xx=N photos_per_s=X p95_ms=X

Exit status 0 when every photo is ready, none lost, no 5xx and the checker is clean; 1 otherwise.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-password-1"
ID = re.compile(r"/[0-9A-HJKMNP-TV-Z]{26}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """`python -m local.run` in a child process, on its own ports and state directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    aws_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "stack.log"

    def start(self, timeout: float = 120) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "local.run",
                    "--port",
                    str(self.port),
                    "--aws-port",
                    str(self.aws_port),
                    "--state-dir",
                    str(self.workdir / "state"),
                    "--no-demo-user",
                    "--no-autoreload",
                ],
                cwd=ROOT,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"local stack exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            if "Ctrl-C to stop" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"local stack did not start within {timeout} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Meter:
    """Latency and status of every request, by route template."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors_5xx: list[str] = []
        self.other_errors: list[str] = []

    def call(
        self, session: requests.Session, method: str, url: str, route: str | None = None, **kwargs: Any
    ) -> requests.Response:
        name = route or f"{method} " + ID.sub("/{id}", url.split("//", 1)[1].split("/", 1)[1].split("?")[0])
        if route is None and not name.split(" ", 1)[1].startswith("/"):
            name = name.replace(" ", " /", 1)
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=60, **kwargs)
        except requests.RequestException as error:
            with self.lock:
                self.other_errors.append(f"{name}: {error}")
            raise
        elapsed = time.perf_counter() - started
        with self.lock:
            self.samples[name].append(elapsed)
            if response.status_code >= 500:
                self.errors_5xx.append(f"{name} {response.status_code} {response.text[:200]}")
        return response


def jpeg(seed: int) -> bytes:
    """A distinct, real JPEG of about 150 KB (Pillow's noise is random: no two are alike)."""
    from PIL import Image

    image = Image.merge("RGB", [Image.effect_noise((640, 480), 40 + (seed + c) % 40) for c in range(3)])
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def sign_up(meter: Meter, base: str, username: str) -> requests.Session:
    session = requests.Session()
    account = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    created = meter.call(session, "POST", f"{base}/auth/signup", json=account)
    if created.status_code != 201:
        raise RuntimeError(f"signup of {username}: {created.status_code} {created.text}")
    login = meter.call(
        session, "POST", f"{base}/auth/login", json={"username": username, "password": PASSWORD}
    )
    if login.status_code != 200:
        raise RuntimeError(f"login of {username}: {login.status_code} {login.text}")
    session.headers["Authorization"] = f"Bearer {login.json()['id_token']}"
    return session


def uploader(
    meter: Meter,
    base: str,
    session: requests.Session,
    photos: list[bytes],
    uploaded: list[str],
    failures: list[str],
) -> None:
    put = requests.Session()
    for data in photos:
        try:
            grant = meter.call(
                session,
                "POST",
                f"{base}/uploads",
                json={"filename": "load.jpg", "content_type": "image/jpeg", "size": len(data)},
            )
            if grant.status_code != 201:
                failures.append(f"POST /uploads {grant.status_code} {grant.text[:200]}")
                continue
            body = grant.json()
            sent = meter.call(
                put,
                "PUT",
                body["upload"]["url"],
                route="PUT (presigned S3)",
                data=data,
                headers=body["upload"]["headers"],
            )
            if sent.status_code != 200:
                failures.append(f"presigned PUT {sent.status_code} {sent.text[:200]}")
                continue
            uploaded.append(body["id"])
        except requests.RequestException as error:
            failures.append(f"upload: {error}")


def reader(
    meter: Meter, base: str, sessions: list[requests.Session], known: list[list[str]], stop: threading.Event
) -> None:
    rng = random.Random()
    while not stop.is_set():
        i = rng.randrange(len(sessions))
        session = sessions[i]
        try:
            choice = rng.random()
            if choice < 0.4:
                meter.call(session, "GET", f"{base}/images?limit=30")
            elif choice < 0.8 and known[i]:
                meter.call(session, "GET", f"{base}/images/{rng.choice(known[i])}")
            else:
                meter.call(session, "GET", f"{base}/feed?limit=30")
        except requests.RequestException:
            time.sleep(0.1)


def listed(meter: Meter, base: str, session: requests.Session) -> dict[str, str]:
    """Every photo in the user's gallery: id -> status."""
    found: dict[str, str] = {}
    cursor = ""
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = meter.call(session, "GET", f"{base}/images{query}", route="GET /images (poll)")
        page.raise_for_status()
        body = page.json()
        found.update((p["id"], p["status"]) for p in body["items"])
        cursor = body["next_cursor"] or ""
        if not cursor:
            return found


def listed_ids(meter: Meter, base: str, session: requests.Session) -> list[str]:
    ids: list[str] = []
    cursor = ""
    while True:
        page = meter.call(
            session, "GET", f"{base}/images?limit=100" + (f"&cursor={cursor}" if cursor else "")
        )
        page.raise_for_status()
        body = page.json()
        ids += [p["id"] for p in body["items"]]
        cursor = body["next_cursor"] or ""
        if not cursor:
            return ids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--photos", type=int, default=20, help="per user")
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every photo")
    parser.add_argument("--keep", action="store_true", help="keep the stack's state directory and log")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="gallery-loadtest-"))
    stack = Stack(workdir)
    print(f"starting a local stack on :{stack.port} (AWS :{stack.aws_port}), state in {workdir}", flush=True)
    stack.start()
    meter = Meter()
    try:
        return run(args, stack, meter)
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, stack: Stack, meter: Meter) -> int:
    base = stack.url
    tag = secrets.token_hex(3)
    names = [f"load{tag}{n:02d}" for n in range(args.users)]
    sessions = [sign_up(meter, base, name) for name in names]
    photos = [[jpeg(u * 1000 + n) for n in range(args.photos)] for u in range(args.users)]
    total = args.users * args.photos
    uploaded: list[list[str]] = [[] for _ in names]
    failures: list[str] = []
    stop = threading.Event()
    readers = [
        threading.Thread(target=reader, args=(meter, base, sessions, uploaded, stop), daemon=True)
        for _ in range(args.readers)
    ]
    uploaders = [
        threading.Thread(target=uploader, args=(meter, base, sessions[i], photos[i], uploaded[i], failures))
        for i in range(args.users)
    ]
    print(
        f"{args.users} users upload {args.photos} photos each while {args.readers} readers list and read",
        flush=True,
    )
    started = time.perf_counter()
    for thread in readers + uploaders:
        thread.start()
    for thread in uploaders:
        thread.join()
    upload_s = time.perf_counter() - started
    print(f"uploads sent in {upload_s:.1f} s; waiting for processing", flush=True)

    ready: dict[str, str] = {}
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        # One listing per user and round (a GET per photo would measure the polling, not the pipeline).
        for i, session in enumerate(sessions):
            if all(pid in ready for pid in uploaded[i]):
                continue
            listing = listed(meter, base, session)
            for photo_id in uploaded[i]:
                statuses[photo_id] = listing.get(photo_id, "pending")
                if statuses[photo_id] == "ready":
                    ready[photo_id] = names[i]
        if len(ready) == sum(len(u) for u in uploaded) or any(
            s in ("rejected", "failed") for s in statuses.values()
        ):
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in readers:
        thread.join(timeout=30)

    # Every photo listed exactly once, in its owner's gallery only.
    listing_problems: list[str] = []
    listed_by = {name: listed_ids(meter, base, s) for name, s in zip(names, sessions, strict=True)}
    for i, name in enumerate(names):
        seen = listed_by[name]
        if len(seen) != len(set(seen)):
            listing_problems.append(f"{name}: {len(seen) - len(set(seen))} photos listed twice")
        if sorted(seen) != sorted(uploaded[i]):
            listing_problems.append(f"{name}: listed {len(seen)}, uploaded {len(uploaded[i])}")
    lost = total - len(ready)

    checker = subprocess.run(
        [
            sys.executable,
            "-m",
            "chalicelib.consistency",
            "--stage",
            "local",
            "--aws-port",
            str(stack.aws_port),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PHOTOS_", "STAGE"))},
    )

    print(f"\n{'route':32} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in sorted(meter.samples.items()):
        print(
            f"{name:32} {len(values):6d} {len(values) / elapsed:7.1f} {percentile(values, 50) * 1000:8.1f} "
            f"{percentile(values, 95) * 1000:8.1f} {percentile(values, 99) * 1000:8.1f}"
        )
    api = [v for name, values in meter.samples.items() if "presigned" not in name for v in values]
    p95 = percentile(api, 95) * 1000 if api else 0.0
    verdict = checker.stdout.strip().splitlines()[-1] if checker.stdout.strip() else checker.stderr
    print(f"\nconsistency: {verdict}")
    for problem in (failures + listing_problems + meter.errors_5xx + meter.other_errors)[:20]:
        print("problem:", problem)
    not_ready = {s for pid, s in statuses.items() if pid not in ready}
    if not_ready:
        print("not ready:", sorted(not_ready))
    print(
        f"{len(ready)} of {total} photos ready in {elapsed:.1f} s ({upload_s:.1f} s to send them), "
        f"median API latency {statistics.median(api) * 1000:.0f} ms"
        if api
        else ""
    )
    print(
        f"loadtest: photos={total} ready={len(ready)} lost={lost} errors_5xx={len(meter.errors_5xx)} "
        f"photos_per_s={len(ready) / elapsed:.2f} p95_ms={p95:.0f}"
    )
    ok = (
        lost == 0
        and not meter.errors_5xx
        and not listing_problems
        and not failures
        and checker.returncode == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
