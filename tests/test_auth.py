"""Tests for the token verifier: real moto tokens verify; forged, stale and misdirected ones do not.

The JWKS is injected (moto's public key, no HTTP) except in the last tests, which serve it from a
local HTTP server to check PyJWKClient's fetch, cache and failure handling.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cognito_helpers import (
    REGION,
    FailingJWKClient,
    Pool,
    StaticJWKClient,
    claims_for,
    cognito_client,
    create_pool,
    create_user,
    login,
    mocked_aws,
    moto_jwks,
    moto_private_key,
    sign,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib import errors
from chalicelib.auth import INVALID_TOKEN, TokenVerifier, bearer_token, default_jwks_url


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """One moto pool with user alice and her real tokens, plus a second pool with bob (same key)."""
    with mocked_aws():
        client = cognito_client()
        pool = create_pool(client, "gallery-test")
        other = create_pool(client, "someone-elses")
        create_user(client, pool, "alice")
        create_user(client, other, "bob")
        yield {
            "pool": pool,
            "other": other,
            "alice": login(client, pool, "alice"),
            "bob": login(client, other, "bob"),
        }


@pytest.fixture
def pool(world: dict[str, Any]) -> Pool:
    return world["pool"]


def verifier_for(pool: Pool, jwk_client: Any = None, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(
        region=pool.region,
        user_pool_id=pool.pool_id,
        client_id=pool.client_id,
        jwk_client=jwk_client or StaticJWKClient(),
        **kwargs,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)])


def hs256_with_public_key(claims: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC keyed with the (public) RSA key's PEM."""
    public_pem = (
        moto_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "dummy"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(token: str) -> str:
    """A real token whose payload was edited after signing (username swapped)."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:username"] = "mallory"
    return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"


# --- what verifies -----------------------------------------------------------------------------


def test_real_id_and_access_tokens_give_the_username(world: dict[str, Any], pool: Pool) -> None:
    verifier = verifier_for(pool)
    assert verifier.verify(world["alice"]["IdToken"]) == "alice"
    assert verifier.verify(world["alice"]["AccessToken"]) == "alice"


def test_verify_claims_returns_the_checked_claims(world: dict[str, Any], pool: Pool) -> None:
    claims = verifier_for(pool).verify_claims(world["alice"]["IdToken"])
    assert claims["cognito:username"] == "alice" and claims["aud"] == pool.client_id
    assert isinstance(claims["iat"], int) and claims["sub"]
    with pytest.raises(errors.Unauthorized):
        verifier_for(pool).verify_claims(world["bob"]["IdToken"])


@pytest.mark.parametrize("token_use", ["id", "access"])
def test_username_is_lower_cased(pool: Pool, token_use: str) -> None:
    assert verifier_for(pool).verify(sign(claims_for(pool, "Alice_X", token_use))) == "alice_x"


def test_leeway_tolerates_small_clock_skew(pool: Pool) -> None:
    now = int(time.time())
    token = sign(claims_for(pool, "alice", iat=now - 3600, exp=now - 10))
    assert verifier_for(pool, leeway=30).verify(token) == "alice"
    with pytest.raises(errors.Unauthorized):
        verifier_for(pool).verify(token)


# --- what does not ------------------------------------------------------------------------------

now = int(time.time())
other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other_ec = ec.generate_private_key(ec.SECP256R1())

# Each builder gets (pool, world) and returns a token that must be refused.
BAD_TOKENS: dict[str, Callable[[Pool, dict[str, Any]], str]] = {
    "expired": lambda p, w: sign(claims_for(p, "alice", iat=now - 7200, exp=now - 3600)),
    "expired access": lambda p, w: sign(claims_for(p, "alice", "access", iat=now - 7200, exp=now - 3600)),
    "issued in the future": lambda p, w: sign(claims_for(p, "alice", iat=now + 600, exp=now + 4200)),
    "not yet valid (nbf)": lambda p, w: sign(claims_for(p, "alice", nbf=now + 600)),
    "forged with another RSA key": lambda p, w: sign(claims_for(p, "alice"), key=other_rsa),
    "unknown kid": lambda p, w: sign(claims_for(p, "alice"), kid="other"),
    "alg none": lambda p, w: unsigned({"alg": "none", "typ": "JWT", "kid": "dummy"}, claims_for(p, "alice")),
    "alg NONE": lambda p, w: unsigned({"alg": "NONE", "kid": "dummy"}, claims_for(p, "alice")),
    "no alg": lambda p, w: unsigned({"kid": "dummy"}, claims_for(p, "alice"), b"sig"),
    "HS256 keyed with the public key": lambda p, w: hs256_with_public_key(claims_for(p, "alice")),
    "RS512 with the right key": lambda p, w: sign(claims_for(p, "alice"), algorithm="RS512"),
    "PS256 with the right key": lambda p, w: sign(claims_for(p, "alice"), algorithm="PS256"),
    "ES256": lambda p, w: sign(claims_for(p, "alice"), key=other_ec, algorithm="ES256"),
    "tampered payload": lambda p, w: tampered(w["alice"]["IdToken"]),
    "signature stripped": lambda p, w: w["alice"]["IdToken"].rsplit(".", 1)[0] + ".",
    "another pool's id token": lambda p, w: w["bob"]["IdToken"],
    "another pool's access token": lambda p, w: w["bob"]["AccessToken"],
    "issuer in another region": lambda p, w: sign(
        claims_for(p, "alice", iss=p.issuer.replace("us-east-1", "eu-west-1", 1))
    ),
    "issuer with a trailing slash": lambda p, w: sign(claims_for(p, "alice", iss=p.issuer + "/")),
    "id token for another client": lambda p, w: sign(claims_for(p, "alice", aud="another-client")),
    "id token with a list audience": lambda p, w: sign(claims_for(p, "alice", aud=[p.client_id, "x"])),
    "id token with client_id, no aud": lambda p, w: sign(
        claims_for(p, "alice", aud=None, client_id=p.client_id)
    ),
    "access token for another client": lambda p, w: sign(claims_for(p, "alice", "access", client_id="x")),
    "access token with aud, no client_id": lambda p, w: sign(
        claims_for(p, "alice", "access", client_id=None, aud=p.client_id)
    ),
    "token_use refresh": lambda p, w: sign(claims_for(p, "alice", token_use="refresh", aud=p.client_id)),
    "token_use missing": lambda p, w: sign(claims_for(p, "alice", token_use=None, aud=p.client_id)),
    "exp missing": lambda p, w: sign(claims_for(p, "alice", exp=None)),
    "iat missing": lambda p, w: sign(claims_for(p, "alice", iat=None)),
    "iss missing": lambda p, w: sign(claims_for(p, "alice", iss=None)),
    "sub missing": lambda p, w: sign(claims_for(p, "alice", sub=None)),
    "exp not a number": lambda p, w: sign(claims_for(p, "alice", exp="tomorrow")),
    "id token without cognito:username": lambda p, w: sign(
        claims_for(p, "alice", **{"cognito:username": None})
    ),
    "access token without username": lambda p, w: sign(claims_for(p, "alice", "access", username=None)),
    "id token with only the access claim": lambda p, w: sign(
        claims_for(p, "alice", **{"cognito:username": None, "username": "alice"})
    ),
    "username not a string": lambda p, w: sign(claims_for(p, "alice", **{"cognito:username": ["alice"]})),
    "username outside our alphabet": lambda p, w: sign(claims_for(p, "../alice")),
    "empty": lambda p, w: "",
    "garbage": lambda p, w: "not a jwt",
    "two parts": lambda p, w: "abc.def",
    "bad base64 header": lambda p, w: "!!!.e30.sig",
    "oversized": lambda p, w: sign(claims_for(p, "alice", pad="x" * 9000)),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_are_unauthorized_with_one_message(world: dict[str, Any], pool: Pool, case: str) -> None:
    token = BAD_TOKENS[case](pool, world)
    with pytest.raises(errors.Unauthorized) as caught:
        verifier_for(pool).verify(token)
    assert caught.value.message == INVALID_TOKEN


@pytest.mark.parametrize("token", [None, 42, b"a.b.c"])
def test_non_string_tokens_are_unauthorized(pool: Pool, token: Any) -> None:
    with pytest.raises(errors.Unauthorized):
        verifier_for(pool).verify(token)


def test_disallowed_algorithms_never_reach_the_key_lookup(pool: Pool) -> None:
    keys = StaticJWKClient()
    for case in ("alg none", "HS256 keyed with the public key", "ES256"):
        with pytest.raises(errors.Unauthorized):
            verifier_for(pool, keys).verify(BAD_TOKENS[case](pool, {}))
    assert keys.calls == 0


def test_verifier_for_another_client_refuses_real_tokens(world: dict[str, Any], pool: Pool) -> None:
    verifier = TokenVerifier(
        region=REGION, user_pool_id=pool.pool_id, client_id="another-client", jwk_client=StaticJWKClient()
    )
    for token in (world["alice"]["IdToken"], world["alice"]["AccessToken"]):
        with pytest.raises(errors.Unauthorized):
            verifier.verify(token)


# --- the key source -------------------------------------------------------------------------------


def test_unreachable_jwks_is_service_unavailable(world: dict[str, Any], pool: Pool) -> None:
    with pytest.raises(errors.ServiceUnavailable):
        verifier_for(pool, FailingJWKClient()).verify(world["alice"]["IdToken"])


def test_default_jwks_url_is_the_pools(pool: Pool) -> None:
    verifier = TokenVerifier(region=REGION, user_pool_id=pool.pool_id, client_id=pool.client_id)
    assert verifier.jwks_url == default_jwks_url(REGION, pool.pool_id)
    assert verifier.jwks_url == (
        f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}/.well-known/jwks.json"
    )


class JWKSHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[JWKSHandler]]]:
    handler = type("Handler", (JWKSHandler,), {"body": json.dumps(moto_jwks()).encode(), "hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pool/.well-known/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()


def test_keys_are_fetched_over_http_once_and_cached(
    world: dict[str, Any], pool: Pool, jwks_server: Any
) -> None:
    url, handler = jwks_server
    verifier = TokenVerifier(region=REGION, user_pool_id=pool.pool_id, client_id=pool.client_id, jwks_url=url)
    for _ in range(3):
        assert verifier.verify(world["alice"]["IdToken"]) == "alice"
        assert verifier.verify(world["alice"]["AccessToken"]) == "alice"
    assert handler.hits == 1


def test_garbage_jwks_is_service_unavailable(world: dict[str, Any], pool: Pool, jwks_server: Any) -> None:
    url, handler = jwks_server
    handler.body = b"<html>oops</html>"
    verifier = TokenVerifier(region=REGION, user_pool_id=pool.pool_id, client_id=pool.client_id, jwks_url=url)
    with pytest.raises(errors.ServiceUnavailable):
        verifier.verify(world["alice"]["IdToken"])


def test_closed_port_is_service_unavailable(world: dict[str, Any], pool: Pool, jwks_server: Any) -> None:
    url, _ = jwks_server
    port = int(url.split(":")[2].split("/")[0])
    dead = url.replace(f":{port}/", ":9/")  # discard port: nothing listens
    verifier = TokenVerifier(
        region=REGION, user_pool_id=pool.pool_id, client_id=pool.client_id, jwks_url=dead
    )
    with pytest.raises(errors.ServiceUnavailable):
        verifier.verify(world["alice"]["IdToken"])


# --- the header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("BEARER x", "x"),
    ],
)
def test_bearer_token_is_read_from_the_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "abc.def.ghi",
        "Bearer a b",
        "Token abc",
        "Bearer " + "x" * 9000,
        "Bearer\tabc\tdef",
    ],
)
def test_bad_authorization_headers_are_unauthorized(header: str | None) -> None:
    with pytest.raises(errors.Unauthorized):
        bearer_token(header)
