"""Schemathesis against the real local stack (`python -m local.run`: moto server, event dispatch,
`chalice local`), from the document the stack itself serves at /openapi.json.

Every operation gets a few valid (positive) and invalid (negative) requests, signed in as a throwaway
user (the document includes DELETE /users/me: when a request deletes the account, it is signed up
again). Checks: no 5xx (not_a_server_error), every answer matches its documented schema
(response_schema_conformance), and invalid requests are refused with a 4xx (negative_data_rejection).
FUZZ_EXAMPLES sets how many examples per operation and mode (default 20: about a minute here; 60
sends about 3,700 requests).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from e2e.conftest import StackProcess
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from chalicelib.openapi import document

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection]
PASSWORD = "fuzz-password-1"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A stack of its own: free ports, throwaway state."""
    base: Path = tmp_path_factory.mktemp("fuzz-stack")
    stack = StackProcess(state_dir=base / "state", log_path=base / "stack.log")
    stack.start()
    yield stack
    stack.stop()


class ThrowawayUser:
    """A fresh account; signed up again whenever a fuzzed request deletes it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.username = "fuzz-" + secrets.token_hex(4)
        self.token = ""
        self.sign_up()

    def sign_up(self) -> None:
        account = {"username": self.username, "email": f"{self.username}@example.com", "password": PASSWORD}
        created = requests.post(f"{self.base_url}/auth/signup", json=account, timeout=30)
        assert created.status_code in (201, 409), created.text
        login = requests.post(f"{self.base_url}/auth/login", timeout=30,
                              json={"username": self.username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.token = login.json()["id_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def after(self, method: str, path: str, status: int) -> None:
        if (method, path, status) == ("DELETE", "/users/me", 204):
            self.sign_up()


def test_the_served_document_is_the_one_in_chalicelib(live: Any) -> None:
    served = requests.get(f"{live.url}/openapi.json", timeout=30).json()
    assert served == document(live.url)


def test_unknown_methods_reach_the_app_and_answer_405(live: Any) -> None:
    for method in ("TRACE", "QUERY", "PUT"):
        response = requests.request(method, f"{live.url}/images", timeout=30)
        assert response.status_code == 405, (method, response.status_code, response.text)
        assert response.json()["Code"] == "MethodNotAllowedError"


def test_the_running_stack_keeps_its_contract(live: Any) -> None:
    schema = schemathesis.openapi.from_dict(requests.get(f"{live.url}/openapi.json", timeout=30).json())
    user = ThrowawayUser(live.url)

    @schema.auth(refresh_interval=None, retry_on=[])
    class Bearer:
        """The throwaway user's token on every request (schemathesis leaves it out where a negative case
        is about the missing header)."""

        def get(self, case: Any, context: Any) -> str:
            return user.token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    failures: list[str] = []
    calls = 0
    succeeded: set[str] = set()  # operations that answered 2xx at least once: the fuzzing got past auth
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call_and_validate(base_url=live.url, checks=CHECKS, timeout=30)
                user.after(case.operation.method.upper(), case.operation.path, response.status_code)
                if response.status_code < 300:
                    succeeded.add(case.operation.label)

            try:
                run()
            except Unsatisfiable:
                continue  # e.g. no invalid request exists for an operation without parameters
            except (Exception, BaseExceptionGroup) as failure:  # report every operation, not just one
                failures.append(f"{mode.value} {operation.label}:\n{str(failure)[:1500]}")
    print(f"schemathesis: {calls} requests, {len(failures)} failing operation(s), "
          f"{len(succeeded)} operations answered 2xx")
    for label in ("GET /users/me", "GET /images", "POST /uploads", "PUT /users/me", "GET /trash"):
        assert label in succeeded, f"{label} never succeeded: is the token sent?"
    assert not failures, "\n\n".join(failures) + "\n\nstack log:\n" + live.log_text()[-3000:]
