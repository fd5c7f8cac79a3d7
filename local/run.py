"""`make run`: the gallery on an embedded local AWS (moto), until Ctrl-C.

    python -m local.run [--port 8000] [--aws-port 5000] [--state-dir .local] [--no-demo-user]
                        [--no-autoreload]

PORT and AWS_PORT in the environment set the defaults. Ctrl-C or SIGTERM stops every process this
started, saves the state and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from local.stack import DEMO_PASSWORD, DEMO_USERNAME, PROJECT_DIR, LocalStack


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                        help="the API and web UI (default: $PORT or 8000)")
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("AWS_PORT", "5000")),
                        help="the AWS emulator (default: $AWS_PORT or 5000)")
    parser.add_argument("--state-dir", type=Path, default=PROJECT_DIR / ".local",
                        help="where data survives restarts (default: .local; `make reset` deletes it)")
    parser.add_argument("--demo-user", action=argparse.BooleanOptionalAction, default=True,
                        help=f"create the Cognito user {DEMO_USERNAME!r} if missing (default: yes)")
    parser.add_argument("--autoreload", action=argparse.BooleanOptionalAction, default=True,
                        help="restart the API and re-import event handlers when code changes (default: yes)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    # One line per emulator request (every queue poll) would drown the app's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    started = time.monotonic()
    stack = LocalStack(port=args.port, aws_port=args.aws_port, state_dir=args.state_dir,
                       demo_user=args.demo_user, autoreload=args.autoreload)
    try:
        stack.start()
    except BaseException as exc:
        stack.stop()
        print(f"local stack failed to start: {exc}", file=sys.stderr)
        return 1
    restored = ", ".join(f"{n} {what}" for what, n in stack.restored.items())
    print(f"\nGallery running at {stack.url}/  (AWS emulator at {stack.aws_endpoint}, "
          f"ready in {time.monotonic() - started:.1f}s; restored {restored} from {args.state_dir})")
    if args.demo_user:
        print(f"Demo account: username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}")
    print("Ctrl-C to stop", flush=True)
    problem = None
    try:
        while not stopping.wait(0.5) and not (problem := stack.problem()):
            pass
    finally:
        print(f"\n{problem or 'stopping'}: saving state and shutting down...", flush=True)
        stack.stop()
    print("stopped", flush=True)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
