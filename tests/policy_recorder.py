"""pytest plugin: record every AWS call each Lambda function of the app makes, and check the
committed per-function IAM policies (`.chalice/policy-<function>.json`) against them.

How: a botocore `provide-client-params.*.*` handler on the app's one boto3 session
(`chalicelib.aws._session()`), registered before any client of that session exists (after every
fixture and before every test, since `services.reset()` starts a new session). The event fires for
every API call and for every presigned URL or POST (with `context["is_presign_request"]`), so a
presigned PUT counts as the PutObject it grants. Nothing is patched.

A call counts only while a handler of `app.py` is on the stack: test code that uses the same session
is not a Lambda function. The function is `aws.FUNCTION`, which app.py sets in each handler; the
recorder cross-checks it with the handler it finds on the stack.

At the end of the session (with pytest-xdist: on the controller, with every worker's calls):
- a call its function's committed policy does not allow fails the run;
- after a complete run (every test of `testpaths`, none deselected, none failed) a grant the policy
  holds but no call needed fails it too; after a partial run that check is skipped, and said so;
- with `RECORD_AWS_CALLS=<path>` the calls are written there and nothing is checked (`make policy`).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_PATH = str(ROOT / "app.py")
RECORD_ENV = "RECORD_AWS_CALLS"
# The Chalice name of the Lambda function that serves every route.
API_FUNCTION = "api_handler"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy import iam_map, policy  # noqa: E402


class Recorder:
    """The distinct calls seen, as JSON-ready dicts, plus per-test lists for the `aws_calls` fixture."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.outside = 0  # calls on the app's session from test code, not from a handler
        self.listeners: list[list[dict[str, Any]]] = []
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def hook_current_session(self) -> None:
        from chalicelib import aws

        session = aws._session()
        if session in self._sessions:
            return
        session.events.register("provide-client-params.*.*", self._on_call, unique_id="policy-recorder")
        self._sessions.add(session)

    def _handler_on_stack(self) -> str | None:
        """The outermost function of app.py on the stack (the view's wrapper or an event handler)."""
        found = None
        frame = inspect.currentframe()
        while frame is not None:
            if frame.f_code.co_filename == APP_PATH:
                found = frame.f_code.co_name
            frame = frame.f_back
        return found

    def _on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any] | None = None,
                 **_: Any) -> None:
        handler = self._handler_on_stack()
        if handler is None:
            with self._lock:
                self.outside += 1
            return
        from chalicelib import aws, config

        function = aws.FUNCTION.get()
        service = model.service_model.service_name
        presigned = bool((context or {}).get("is_presign_request"))
        record: dict[str, Any] = {"function": function, "service": service, "operation": model.name,
                                  "presigned": presigned, "grants": [], "error": None}
        event_handlers = _event_handler_names()
        expected = handler if handler in event_handlers else API_FUNCTION
        if function != expected:
            record["error"] = (f"{service}:{model.name} ran in app.py's {handler} with aws.FUNCTION="
                               f"{function!r}: app.py must set aws.FUNCTION to {expected!r} there")
        settings = config.load()
        known = {"bucket": settings.bucket, "table": settings.table, "queue": settings.work_queue_name,
                 "pool": settings.user_pool_id}

        def resolve(kind: str, name: str) -> str:
            if name and name == known[kind]:
                return iam_map.KIND_PLACEHOLDERS[kind]
            if kind == "table" and name.endswith(f":table/{known['table']}"):
                return iam_map.KIND_PLACEHOLDERS[kind]
            return f"UNKNOWN {kind} {name!r}"

        try:
            grants = iam_map.grants_for(service, model.name, params, resolve, presigned=presigned)
            record["grants"] = sorted([g.action, g.resource, g.condition] for g in grants)
            unknown = [g.resource for g in grants if g.resource.startswith("UNKNOWN")]
            if unknown and not record["error"]:
                record["error"] = f"{function} {service}:{model.name} outside the stack: {unknown}"
        except (iam_map.UnknownOperation, KeyError, TypeError, AttributeError) as error:
            record["error"] = f"{function} {service}:{model.name}: cannot map to IAM ({error!r}): " \
                              "teach deploy/iam_map.py"
        key = json.dumps(record, sort_keys=True)
        with self._lock:
            self.calls[key] = record
            for listener in self.listeners:
                listener.append(record)

    def merge(self, calls: list[dict[str, Any]], outside: int) -> None:
        for record in calls:
            self.calls[json.dumps(record, sort_keys=True)] = record
        self.outside += outside


def _event_handler_names() -> set[str]:
    app_module = sys.modules.get("app")
    if app_module is None:
        return set()
    return {source.name for source in app_module.app.event_sources}


def functions_of_app() -> dict[str, str]:
    """Every Lambda function of the app: name -> kind ("api", "s3", "sqs", ...)."""
    import app as app_module

    functions = {API_FUNCTION: "api"} if app_module.app.routes else {}
    for source in app_module.app.event_sources:
        kind = type(source).__name__.removesuffix("EventConfig").lower()
        functions[source.name] = {"sqsevent": "sqs", "s3event": "s3"}.get(kind, kind)
    return functions


class RecorderPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorder = Recorder()
        self.deselected = 0
        self.report: list[str] = []
        self.note: str = ""
        self.failed_check = False

    # Hooking: after every fixture (the stack fixture resets the session) and before every test.

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Iterator[Any]:
        result = yield
        self.recorder.hook_current_session()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        self.recorder.hook_current_session()
        return (yield)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    @pytest.fixture
    def aws_calls(self) -> Iterator[list[dict[str, Any]]]:
        """The AWS calls handlers make during one test (recorded as for the policies)."""
        calls: list[dict[str, Any]] = []
        self.recorder.listeners.append(calls)
        yield calls
        self.recorder.listeners.remove(calls)

    # xdist: workers send their calls to the controller.

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}).get("aws_calls")
        if output:
            data = json.loads(output)
            self.recorder.merge(data["calls"], data["outside"])
            self.deselected += data["deselected"]

    def _incomplete_reason(self, session: pytest.Session) -> str:
        config = self.config
        if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
            given = {Path(a).resolve() for a in config.args}
            if given != {ROOT / "tests"}:
                return f"only {' '.join(config.args)} ran"
        if self.deselected:
            return f"{self.deselected} tests were deselected"
        if session.testsfailed:
            return f"{session.testsfailed} tests failed"
        if session.shouldstop or session.shouldfail:
            return "the run stopped early"
        return ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["aws_calls"] = json.dumps(  # type: ignore[attr-defined]
                {"calls": list(self.recorder.calls.values()), "outside": self.recorder.outside,
                 "deselected": self.deselected})
            return
        calls = sorted(self.recorder.calls.values(), key=lambda c: json.dumps(c, sort_keys=True))
        if not calls:
            return  # no handler ran (e.g. only pure unit tests): nothing to say
        reason = self._incomplete_reason(session)
        log = {"complete": not reason, "incomplete_reason": reason, "functions": functions_of_app(),
               "calls": calls, "outside_calls": self.recorder.outside}
        path = os.environ.get(RECORD_ENV)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(log, indent=1) + "\n")
            self.note = f"recorded {len(calls)} distinct AWS calls to {path}"
            return
        self.report = sorted({c["error"] for c in calls if c["error"]})
        comparison = policy.compare(policy.required_grants(log),
                                    {fn: policy.load_template(fn) for fn in log["functions"]})
        self.report += comparison.lines(include_unused=not reason)
        if reason:
            self.note = f"IAM policy check: {len(calls)} calls allowed; unused-grant check skipped ({reason})"
        else:
            self.note = f"IAM policy check: {len(calls)} distinct calls, complete run"
        if self.report:
            self.failed_check = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report:
            terminalreporter.section("IAM policies (.chalice/policy-*.json) vs the AWS calls", red=True)
            for line in self.report:
                terminalreporter.line(line, red=True)
            terminalreporter.line("fix the code, or run `make policy` to regenerate the policies and review "
                                  "the diff")
        if self.note:
            terminalreporter.line(self.note)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RecorderPlugin(config), "policy-recorder")
