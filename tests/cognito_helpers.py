"""Test data builders for Cognito under moto: pools, app clients, users, real and forged tokens.

moto signs every pool's tokens with one RSA key that ships inside moto. The builders here expose
that key so tests can mint tokens with any claims (expired, wrong issuer, wrong token_use...), and
a JWKS source that serves moto's public key without HTTP (PyJWKClient's urllib fetch is not
intercepted by ``mock_aws``).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import boto3
import jwt
from moto import mock_aws

REGION = "us-east-1"
PASSWORD = "Correct-Horse-9"  # satisfies infra's password policy (and moto's default)


@contextlib.contextmanager
def mocked_aws(region: str = REGION) -> Iterator[None]:
    """Run under ``mock_aws`` with fake credentials, a region, and no endpoint override.

    AWS_ENDPOINT_URL (set by the local stack) would send boto3 past the mock to a real server.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=region,
    )
    try:
        with mock_aws():
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cognito_client(region: str = REGION) -> Any:
    """A cognito-idp client (call inside ``mocked_aws``)."""
    return boto3.client("cognito-idp", region_name=region)


@dataclass(frozen=True)
class Pool:
    """A moto user pool and its one public app client."""

    region: str
    pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"


def create_pool(client: Any, name: str = "gallery-test", *, region: str = REGION) -> Pool:
    """Create a pool like infra/resources.yaml's: case-insensitive names, its password policy, no secret."""
    pool_id = client.create_user_pool(
        PoolName=name,
        UsernameConfiguration={"CaseSensitive": False},
        AutoVerifiedAttributes=["email"],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 8,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireUppercase": False,
                "RequireSymbols": False,
            }
        },
    )["UserPool"]["Id"]
    client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{name}-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return Pool(region=region, pool_id=pool_id, client_id=client_id)


def create_user(
    client: Any,
    pool: Pool,
    username: str,
    password: str = PASSWORD,
    *,
    email: str | None = None,
    confirmed: bool = True,
) -> None:
    """Sign a user up through the app client, as the API would, and confirm them unless told not to."""
    client.sign_up(
        ClientId=pool.client_id,
        Username=username,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": email or f"{username}@example.com"}],
    )
    if confirmed:
        client.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=username)


def login(client: Any, pool: Pool, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """Real tokens from moto: the AuthenticationResult (IdToken, AccessToken, RefreshToken, ExpiresIn)."""
    response = client.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    result: dict[str, Any] = response["AuthenticationResult"]
    return result


def _moto_resource(name: str) -> dict[str, Any]:
    # moto 5 ships these gzipped; older releases as plain JSON.
    folder = resources.files("moto.cognitoidp") / "resources"
    gz = folder / f"{name}.gz"
    data = gzip.decompress(gz.read_bytes()) if gz.is_file() else (folder / name).read_bytes()
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def moto_jwks() -> dict[str, Any]:
    """The JWKS moto serves for every pool."""
    return _moto_resource("jwks-public.json")


@functools.cache  # loading it recovers the primes from the JWK: ~0.1 s each time
def moto_private_key() -> Any:
    """The RSA private key moto signs every pool's tokens with (kid "dummy")."""
    return jwt.PyJWK(_moto_resource("jwks-private.json")).key


class StaticJWKClient:
    """Serves a fixed JWK set the way PyJWKClient would, with no HTTP: look the token's kid up."""

    def __init__(self, jwks: dict[str, Any] | None = None) -> None:
        self.keys = jwt.PyJWKSet.from_dict(jwks or moto_jwks())
        self.calls = 0

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        self.calls += 1
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self.keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')


class FailingJWKClient:
    """A JWKS source whose endpoint is unreachable."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        raise jwt.PyJWKClientConnectionError('Fail to fetch data from the url, err: "timed out"')


def claims_for(pool: Pool, username: str, token_use: str = "id", /, **overrides: Any) -> dict[str, Any]:
    """Claims shaped like moto's for a fresh token; each override sets a claim, or drops it if None."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": pool.issuer,
        "sub": str(uuid.uuid4()),
        "token_use": token_use,
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    if token_use == "access":
        claims.update(client_id=pool.client_id, username=username, scope="aws.cognito.signin.user.admin")
    else:
        claims.update({"aud": pool.client_id, "cognito:username": username})
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], *, key: Any = None, algorithm: str = "RS256", kid: str = "dummy") -> str:
    """A token signed with moto's key (default) or the key given: as good as a real moto token."""
    return jwt.encode(
        claims, key if key is not None else moto_private_key(), algorithm=algorithm, headers={"kid": kid}
    )
