"""The Cognito user pool adapter: sign up, confirm, log in, refresh and delete accounts.

Takes a boto3 ``cognito-idp`` client in its constructor and returns plain typed dicts. Every
Cognito error is turned into a domain error from ``chalicelib.errors`` with a message safe to show
to the caller: nothing raw escapes to become a 500, and nothing internal (pool ids, regexes,
Cognito's wording) reaches the client.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NoReturn, TypedDict

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import errors

log = logging.getLogger(__name__)

# Usernames become S3 key parts and DynamoDB keys (`uploads/{owner}/...`, `USER#{owner}`), so the
# alphabet is deliberately narrow. Case-insensitive: callers' input is lower-cased first.
USERNAME_RE = re.compile(r"[a-z0-9_-]{3,32}")
# "me" is the API's alias for the caller; the others would read as official on a public wall.
RESERVED_USERNAMES = frozenset({"me", "admin", "administrator", "api", "auth", "root", "system", "support"})

# A shape check only: Cognito (and the confirmation mail) are the real judges of an address.
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
EMAIL_MAX = 254
PASSWORD_MIN, PASSWORD_MAX = 8, 256  # Cognito's own bounds: longer is refused before the policy check
CODE_RE = re.compile(r"[0-9A-Za-z]{1,16}")  # Cognito sends 6 digits; be lenient, not unbounded
TOKEN_MAX = 8192  # Cognito refresh tokens are ~1.8 kB JWEs

# One message for every failed login, so the answer never tells whether the user exists.
LOGIN_FAILED = "incorrect username or password"
REFRESH_FAILED = "invalid or expired refresh token"
UNAVAILABLE = "the account service is unavailable, please retry"

# Cognito's API throttling (and the generic AWS codes botocore may surface) is our dependency
# failing, not the caller's fault: 503 with a retry hint.
_THROTTLING = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)


class SignupResult(TypedDict):
    username: str
    confirmed: bool


class RefreshedTokens(TypedDict):
    id_token: str
    access_token: str
    expires_in: int


class Tokens(RefreshedTokens):
    refresh_token: str


def normalize_username(raw: object) -> str:
    """Return the canonical (stripped, lower-cased) username, or raise BadRequest."""
    if not isinstance(raw, str):
        raise errors.BadRequest("username must be a string")
    name = raw.strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise errors.BadRequest("username must be 3-32 characters: letters, digits, '_' or '-'")
    if name in RESERVED_USERNAMES:
        raise errors.BadRequest("that username is reserved")
    return name


def _email(raw: object) -> str:
    if not isinstance(raw, str):
        raise errors.BadRequest("email must be a string")
    email = raw.strip()
    if len(email) > EMAIL_MAX or not EMAIL_RE.fullmatch(email):
        raise errors.BadRequest("email address is not valid")
    return email


def _password(raw: object) -> str:
    if not isinstance(raw, str):
        raise errors.BadRequest("password must be a string")
    if not PASSWORD_MIN <= len(raw) <= PASSWORD_MAX:
        raise errors.BadRequest(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    # Not stripped: spaces are part of a password. Cognito refuses leading/trailing whitespace.
    if raw != raw.strip():
        raise errors.BadRequest("password must not start or end with a space")
    return raw


def _code(raw: object) -> str:
    if not isinstance(raw, str):
        raise errors.BadRequest("confirmation code must be a string")
    code = raw.strip()
    if not CODE_RE.fullmatch(code):
        raise errors.BadRequest("invalid confirmation code")
    return code


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


# Real Cognito says e.g. "Password did not conform with policy: Password must have symbol characters".
_POLICY_RE = re.compile(r"Password did not conform with policy: ([A-Za-z ]{1,80})")


def _weak_password_message(exc: ClientError) -> str:
    match = _POLICY_RE.fullmatch(_error_message(exc).strip().rstrip("."))
    if match:
        reason = match.group(1)
        return f"password is too weak: {reason[:1].lower()}{reason[1:]}"
    # moto, or wording we do not know: describe infra/resources.yaml's policy rather than echo it.
    return "password is too weak: use lower-case letters and digits"


def _unavailable(operation: str, exc: Exception) -> NoReturn:
    """Log a dependency failure once, with context, and report it as a 503."""
    code = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    log.warning("cognito %s failed: %s", operation, code)
    raise errors.ServiceUnavailable(UNAVAILABLE) from exc


def _common(operation: str, exc: ClientError) -> NoReturn:
    """Map the codes every operation can meet; anything unknown is a 503, never a raw 500."""
    code = _error_code(exc)
    if code == "LimitExceededException" or code == "TooManyFailedAttemptsException":
        # Per-user attempt limits (codes, passwords): the caller must wait, the service is fine.
        raise errors.TooManyRequests("too many attempts, try again later") from exc
    if code in _THROTTLING:
        log.warning("cognito %s throttled: %s", operation, code)
        raise errors.ServiceUnavailable(UNAVAILABLE, retry_after=2) from exc
    if code == "UserLambdaValidationException":
        raise errors.BadRequest("the request was refused") from exc
    # ResourceNotFoundException (wrong pool/client id), InternalErrorException, trigger failures,
    # code delivery failures, ...: our side is broken, and the details stay in the log.
    _unavailable(operation, exc)


class Accounts:
    """User accounts kept in one Cognito user pool, used through one app client (no secret)."""

    def __init__(self, client: Any, *, user_pool_id: str, client_id: str, auto_confirm: bool) -> None:
        self._cognito = client
        self._pool = user_pool_id
        self._client_id = client_id
        # The local stage has no mail: accounts are confirmed as soon as they are created.
        self._auto_confirm = auto_confirm

    def signup(self, *, username: str, email: str, password: str) -> SignupResult:
        """Create an account; confirmed at once when auto_confirm, else awaiting its emailed code."""
        name = normalize_username(username)
        address = _email(email)
        secret = _password(password)
        try:
            response = self._cognito.sign_up(
                ClientId=self._client_id,
                Username=name,
                Password=secret,
                UserAttributes=[{"Name": "email", "Value": address}],
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("UsernameExistsException", "AliasExistsException"):
                raise errors.Conflict("that username is taken") from exc
            if code == "InvalidPasswordException":
                raise errors.BadRequest(_weak_password_message(exc)) from exc
            if code == "InvalidParameterException":
                # Cognito's text names its own constraints and regexes: say only which field.
                text = _error_message(exc).lower()
                if "password" in text:
                    raise errors.BadRequest("password is not allowed") from exc
                if "email" in text:
                    raise errors.BadRequest("email address is not valid") from exc
                raise errors.BadRequest("invalid sign-up details") from exc
            _common("sign_up", exc)
        except BotoCoreError as exc:
            _unavailable("sign_up", exc)
        confirmed = bool(response.get("UserConfirmed", False))
        if self._auto_confirm and not confirmed:
            try:
                self._cognito.admin_confirm_sign_up(UserPoolId=self._pool, Username=name)
            except ClientError as exc:
                _common("admin_confirm_sign_up", exc)
            except BotoCoreError as exc:
                _unavailable("admin_confirm_sign_up", exc)
            confirmed = True
        return {"username": name, "confirmed": confirmed}

    def confirm(self, *, username: str, code: str) -> None:
        """Confirm an account with the code Cognito mailed; a wrong or stale code is a 400."""
        name = normalize_username(username)
        value = _code(code)
        try:
            self._cognito.confirm_sign_up(ClientId=self._client_id, Username=name, ConfirmationCode=value)
        except ClientError as exc:
            error = _error_code(exc)
            # An unknown user answers like a wrong code, so confirming cannot probe for names.
            if error in ("CodeMismatchException", "UserNotFoundException"):
                raise errors.BadRequest("invalid confirmation code") from exc
            if error == "ExpiredCodeException":
                raise errors.BadRequest("confirmation code expired, request a new one") from exc
            if error == "NotAuthorizedException":
                # "User cannot be confirmed. Current status is CONFIRMED"
                raise errors.Conflict("account is already confirmed") from exc
            if error == "InvalidParameterException":
                raise errors.BadRequest("invalid confirmation code") from exc
            _common("confirm_sign_up", exc)
        except BotoCoreError as exc:
            _unavailable("confirm_sign_up", exc)

    def login(self, *, username: str, password: str) -> Tokens:
        """Exchange a username and password for tokens (USER_PASSWORD_AUTH)."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise errors.BadRequest("username and password must be strings")
        # A name or password that could never have been accepted at sign-up is just a wrong
        # credential: same answer as any other, and Cognito is not asked.
        try:
            name = normalize_username(username)
            secret = _password(password)
        except errors.BadRequest:
            raise errors.Unauthorized(LOGIN_FAILED) from None
        try:
            response = self._cognito.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": name, "PASSWORD": secret},
            )
        except ClientError as exc:
            code = _error_code(exc)
            # InvalidParameterException is left to _common: with input validated above it means
            # a misconfigured client (e.g. USER_PASSWORD_AUTH not enabled), a 503 worth logging.
            if code in ("NotAuthorizedException", "UserNotFoundException"):
                if "attempts exceeded" in _error_message(exc).lower():
                    raise errors.TooManyRequests("too many failed attempts, try again later") from exc
                # Wrong password, unknown user, disabled user: one indistinguishable answer.
                raise errors.Unauthorized(LOGIN_FAILED) from exc
            if code == "UserNotConfirmedException":
                raise errors.Forbidden("account is not confirmed yet") from exc
            if code == "PasswordResetRequiredException":
                raise errors.Forbidden("password reset required") from exc
            _common("initiate_auth", exc)
        except BotoCoreError as exc:
            _unavailable("initiate_auth", exc)
        result = response.get("AuthenticationResult")
        if not result:
            # A challenge (NEW_PASSWORD_REQUIRED for admin-created users, MFA): this API offers
            # no way to answer one, so the account cannot log in here.
            log.info("login for %s stopped at challenge %s", name, response.get("ChallengeName"))
            raise errors.Forbidden("this account needs an action this app does not support")
        return {
            "id_token": result["IdToken"],
            "access_token": result["AccessToken"],
            "refresh_token": result["RefreshToken"],
            "expires_in": int(result["ExpiresIn"]),
        }

    def refresh(self, *, refresh_token: str) -> RefreshedTokens:
        """Exchange a refresh token for new ID and access tokens."""
        if not isinstance(refresh_token, str) or not 0 < len(refresh_token) <= TOKEN_MAX:
            raise errors.Unauthorized(REFRESH_FAILED)
        try:
            response = self._cognito.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code in (
                "NotAuthorizedException",
                "UserNotFoundException",
                "InvalidParameterException",
                "UserNotConfirmedException",
            ):
                raise errors.Unauthorized(REFRESH_FAILED) from exc
            _common("initiate_auth(refresh)", exc)
        except BotoCoreError as exc:
            _unavailable("initiate_auth(refresh)", exc)
        result = response.get("AuthenticationResult")
        if not result:
            raise errors.Unauthorized(REFRESH_FAILED)
        return {
            "id_token": result["IdToken"],
            "access_token": result["AccessToken"],
            "expires_in": int(result["ExpiresIn"]),
        }

    def delete_user(self, username: str) -> None:
        """Sign the user out everywhere, then delete them. Deleting a missing user is a no-op.

        Global sign-out revokes refresh tokens; ID and access tokens already issued stay valid
        (for a stateless verifier) until they expire.
        """
        name = normalize_username(username)
        for operation in ("admin_user_global_sign_out", "admin_delete_user"):
            try:
                getattr(self._cognito, operation)(UserPoolId=self._pool, Username=name)
            except ClientError as exc:
                if _error_code(exc) == "UserNotFoundException":
                    return  # already gone: deleting is idempotent
                _common(operation, exc)
            except BotoCoreError as exc:
                _unavailable(operation, exc)
