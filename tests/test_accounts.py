"""Tests for the Cognito account adapter: flows against moto, error mapping against botocore's Stubber.

moto accepts any confirmation code and raises only some of Cognito's errors, so the mapping of
the rest (codes, throttling, outages) is checked with stubbed responses shaped like Cognito's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from cognito_helpers import REGION, Pool, StaticJWKClient, cognito_client, create_pool, mocked_aws

from chalicelib import errors
from chalicelib.accounts import LOGIN_FAILED, Accounts, normalize_username
from chalicelib.auth import TokenVerifier

PASSWORD = "sunny-day-42"


@pytest.fixture
def cognito() -> Iterator[Any]:
    with mocked_aws():
        yield cognito_client()


@pytest.fixture
def pool(cognito: Any) -> Pool:
    return create_pool(cognito)


def make_accounts(cognito: Any, pool: Pool, *, auto_confirm: bool = True) -> Accounts:
    return Accounts(cognito, user_pool_id=pool.pool_id, client_id=pool.client_id, auto_confirm=auto_confirm)


@pytest.fixture
def accounts(cognito: Any, pool: Pool) -> Accounts:
    return make_accounts(cognito, pool)


def verifier_for(pool: Pool) -> TokenVerifier:
    return TokenVerifier(
        region=REGION, user_pool_id=pool.pool_id, client_id=pool.client_id, jwk_client=StaticJWKClient()
    )


# --- usernames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("Alice_01", "alice_01"),
        ("  bob-b ", "bob-b"),
        ("abc", "abc"),
        ("a" * 32, "a" * 32),
    ],
)
def test_normalize_username_lowercases_and_strips(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        b"alice",
        ["alice"],
        "",
        "ab",
        "a" * 33,
        "al ice",
        "al.ice",
        "alice@x",
        "élodie",
        "bo\nb",
        "me",
        "ME",
        "admin",
        "api",
        "auth",
    ],
)
def test_normalize_username_rejects_bad_and_reserved_names(raw: object) -> None:
    with pytest.raises(errors.BadRequest):
        normalize_username(raw)


# --- flows against moto -----------------------------------------------------------------------


def test_can_sign_up_log_in_and_refresh(accounts: Accounts, pool: Pool) -> None:
    assert accounts.signup(username="Alice", email="alice@example.com", password=PASSWORD) == {
        "username": "alice",
        "confirmed": True,
    }
    tokens = accounts.login(username="ALICE", password=PASSWORD)
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in"}
    assert tokens["expires_in"] > 0
    verifier = verifier_for(pool)
    assert verifier.verify(tokens["id_token"]) == "alice"
    assert verifier.verify(tokens["access_token"]) == "alice"

    refreshed = accounts.refresh(refresh_token=tokens["refresh_token"])
    assert set(refreshed) == {"id_token", "access_token", "expires_in"}
    assert verifier.verify(refreshed["id_token"]) == "alice"
    assert verifier.verify(refreshed["access_token"]) == "alice"


def test_taken_username_is_a_conflict_whatever_the_case(accounts: Accounts) -> None:
    accounts.signup(username="bob", email="bob@example.com", password=PASSWORD)
    for name in ("bob", "BOB"):
        with pytest.raises(errors.Conflict):
            accounts.signup(username=name, email="other@example.com", password=PASSWORD)


def test_weak_password_is_a_friendly_bad_request(accounts: Accounts) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        accounts.signup(username="carol", email="carol@example.com", password="nodigitshere")
    assert caught.value.message.startswith("password is too weak")
    assert "configured" not in caught.value.message  # moto's/Cognito's own wording stays inside


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "me"},
        {"username": "x"},
        {"username": 7},
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "two@@example.com"},
        {"email": "x" * 250 + "@example.com"},
        {"email": None},
        {"password": "short1"},
        {"password": "a1" * 129},
        {"password": " padded-pass1 "},
        {"password": 12345678},
    ],
)
def test_signup_validates_input_before_calling_cognito(fields: dict[str, Any]) -> None:
    class NoCognito:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"Cognito called: {name}")

    accounts = Accounts(NoCognito(), user_pool_id="p", client_id="c", auto_confirm=True)
    args: dict[str, Any] = {"username": "dave", "email": "dave@example.com", "password": PASSWORD, **fields}
    with pytest.raises(errors.BadRequest):
        accounts.signup(**args)


def test_unconfirmed_account_cannot_log_in_until_confirmed(cognito: Any, pool: Pool) -> None:
    accounts = make_accounts(cognito, pool, auto_confirm=False)
    assert accounts.signup(username="erin", email="erin@example.com", password=PASSWORD) == {
        "username": "erin",
        "confirmed": False,
    }
    with pytest.raises(errors.Forbidden):
        accounts.login(username="erin", password=PASSWORD)
    accounts.confirm(username="Erin", code="123456")  # moto accepts any code
    assert accounts.login(username="erin", password=PASSWORD)["id_token"]


def test_wrong_password_and_unknown_user_answer_the_same(accounts: Accounts) -> None:
    accounts.signup(username="frank", email="frank@example.com", password=PASSWORD)
    answers = []
    for username, password in [
        ("frank", "wrong-pass-1"),  # wrong password
        ("nobody", PASSWORD),  # unknown user
        ("no", PASSWORD),  # a name sign-up would refuse
        ("frank", "short"),  # a password sign-up would refuse
    ]:
        with pytest.raises(errors.Unauthorized) as caught:
            accounts.login(username=username, password=password)
        answers.append(caught.value.message)
    assert answers == [LOGIN_FAILED] * 4


def test_login_rejects_non_string_input(accounts: Accounts) -> None:
    with pytest.raises(errors.BadRequest):
        accounts.login(username=None, password=PASSWORD)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["not-a-refresh-token", "", "x" * 9000, None])
def test_bad_refresh_token_is_unauthorized(accounts: Accounts, token: Any) -> None:
    with pytest.raises(errors.Unauthorized):
        accounts.refresh(refresh_token=token)


def test_delete_user_signs_out_and_is_idempotent(accounts: Accounts) -> None:
    accounts.signup(username="gina", email="gina@example.com", password=PASSWORD)
    tokens = accounts.login(username="gina", password=PASSWORD)
    accounts.delete_user("Gina")
    with pytest.raises(errors.Unauthorized) as caught:
        accounts.login(username="gina", password=PASSWORD)
    assert caught.value.message == LOGIN_FAILED
    with pytest.raises(errors.Unauthorized):
        accounts.refresh(refresh_token=tokens["refresh_token"])
    accounts.delete_user("gina")  # already gone: fine
    # and the name is free again
    assert accounts.signup(username="gina", email="gina@example.com", password=PASSWORD)["confirmed"]


# --- error mapping (stubbed Cognito) -------------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[Accounts, Stubber]]:
    client = boto3.client(
        "cognito-idp", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield Accounts(client, user_pool_id="us-east-1_pool", client_id="client", auto_confirm=False), stubber
        stubber.assert_no_pending_responses()


def call(accounts: Accounts, method: str) -> Any:
    if method == "signup":
        return accounts.signup(username="hank", email="hank@example.com", password=PASSWORD)
    if method == "confirm":
        return accounts.confirm(username="hank", code="123456")
    if method == "login":
        return accounts.login(username="hank", password=PASSWORD)
    if method == "refresh":
        return accounts.refresh(refresh_token="a-refresh-token")
    return accounts.delete_user("hank")


OPERATION = {
    "signup": "sign_up",
    "confirm": "confirm_sign_up",
    "login": "initiate_auth",
    "refresh": "initiate_auth",
    "delete": "admin_user_global_sign_out",
}

# Cognito's own wording, to check none of it (regexes, pool ids) reaches the caller.
INTERNAL = "1 validation error detected: Value at 'password' failed to satisfy constraint: ^[\\S]+.*[\\S]+$"


@pytest.mark.parametrize(
    ("method", "code", "message", "expected"),
    [
        ("signup", "UsernameExistsException", "User already exists", errors.Conflict),
        ("signup", "InvalidPasswordException", "whatever", errors.BadRequest),
        ("signup", "InvalidParameterException", INTERNAL, errors.BadRequest),
        ("signup", "InvalidParameterException", "Invalid email address format.", errors.BadRequest),
        ("signup", "CodeDeliveryFailureException", "SES down", errors.ServiceUnavailable),
        ("signup", "UserLambdaValidationException", "PreSignUp failed", errors.BadRequest),
        ("confirm", "CodeMismatchException", "Invalid code provided", errors.BadRequest),
        (
            "confirm",
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
            errors.BadRequest,
        ),
        ("confirm", "UserNotFoundException", "Username/client id combination not found.", errors.BadRequest),
        (
            "confirm",
            "NotAuthorizedException",
            "User cannot be confirmed. Current status is CONFIRMED",
            errors.Conflict,
        ),
        ("confirm", "LimitExceededException", "Attempt limit exceeded", errors.TooManyRequests),
        ("confirm", "TooManyFailedAttemptsException", "Too many failed attempts", errors.TooManyRequests),
        ("login", "NotAuthorizedException", "Incorrect username or password.", errors.Unauthorized),
        ("login", "NotAuthorizedException", "User is disabled.", errors.Unauthorized),
        ("login", "UserNotFoundException", "User does not exist.", errors.Unauthorized),
        ("login", "NotAuthorizedException", "Password attempts exceeded", errors.TooManyRequests),
        (
            "login",
            "InvalidParameterException",
            "USER_PASSWORD_AUTH flow not enabled for this client",
            errors.ServiceUnavailable,
        ),
        ("login", "UserNotConfirmedException", "User is not confirmed.", errors.Forbidden),
        ("login", "PasswordResetRequiredException", "Password reset required", errors.Forbidden),
        ("refresh", "NotAuthorizedException", "Refresh Token has been revoked", errors.Unauthorized),
        ("refresh", "NotAuthorizedException", "Invalid Refresh Token", errors.Unauthorized),
        (
            "delete",
            "ResourceNotFoundException",
            "User pool us-east-1_pool does not exist.",
            errors.ServiceUnavailable,
        ),
    ]
    + [
        (method, code, "boom", expected)
        for method in OPERATION
        for code, expected in [
            ("TooManyRequestsException", errors.ServiceUnavailable),
            ("ThrottlingException", errors.ServiceUnavailable),
            ("InternalErrorException", errors.ServiceUnavailable),
            ("ResourceNotFoundException", errors.ServiceUnavailable),
            ("SomethingNewException", errors.ServiceUnavailable),
        ]
    ],
)
def test_cognito_errors_become_domain_errors(
    stubbed: tuple[Accounts, Stubber], method: str, code: str, message: str, expected: type[Exception]
) -> None:
    accounts, stubber = stubbed
    stubber.add_client_error(OPERATION[method], service_error_code=code, service_message=message)
    with pytest.raises(errors.GalleryError) as caught:
        call(accounts, method)
    assert type(caught.value) is expected
    shown = caught.value.message
    assert "us-east-1_pool" not in shown and "constraint" not in shown and code not in shown


def test_real_cognito_policy_message_is_made_friendly(stubbed: tuple[Accounts, Stubber]) -> None:
    accounts, stubber = stubbed
    stubber.add_client_error(
        "sign_up",
        service_error_code="InvalidPasswordException",
        service_message="Password did not conform with policy: Password must have numeric characters",
    )
    with pytest.raises(errors.BadRequest) as caught:
        call(accounts, "signup")
    assert caught.value.message == "password is too weak: password must have numeric characters"


def test_login_challenge_is_forbidden(stubbed: tuple[Accounts, Stubber]) -> None:
    accounts, stubber = stubbed
    stubber.add_response(
        "initiate_auth",
        {"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s" * 20, "ChallengeParameters": {}},
    )
    with pytest.raises(errors.Forbidden):
        call(accounts, "login")


def test_delete_of_missing_user_stops_quietly(stubbed: tuple[Accounts, Stubber]) -> None:
    accounts, stubber = stubbed
    stubber.add_client_error("admin_user_global_sign_out", service_error_code="UserNotFoundException")
    assert call(accounts, "delete") is None


def test_auto_confirm_failure_is_unavailable(stubbed: tuple[Accounts, Stubber]) -> None:
    client = stubbed[0]._cognito
    stubber = stubbed[1]
    accounts = Accounts(client, user_pool_id="us-east-1_pool", client_id="client", auto_confirm=True)
    stubber.add_response("sign_up", {"UserConfirmed": False, "UserSub": "0" * 36})
    stubber.add_client_error("admin_confirm_sign_up", service_error_code="TooManyRequestsException")
    with pytest.raises(errors.ServiceUnavailable):
        call(accounts, "signup")


@pytest.mark.parametrize("method", list(OPERATION))
def test_network_failure_is_unavailable(method: str) -> None:
    class Unreachable:
        def __getattr__(self, name: str) -> Any:
            def fail(**kwargs: Any) -> Any:
                raise EndpointConnectionError(endpoint_url="https://cognito-idp.us-east-1.amazonaws.com")

            return fail

    accounts = Accounts(Unreachable(), user_pool_id="p", client_id="c", auto_confirm=True)
    with pytest.raises(errors.ServiceUnavailable):
        call(accounts, method)
