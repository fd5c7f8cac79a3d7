"""Verifies Cognito JWTs (ID or access tokens) and reads the bearer token from a request header.

Signature and standard claims are checked by PyJWT against the user pool's JWKS; the
Cognito-specific claims (``token_use``, ``aud`` / ``client_id``, the username) are checked here.
Every moto pool (and nothing stops a real attacker from running their own pool) signs with keys
that are not ours to trust on their own, so issuer, audience and token use matter as much as the
signature. Every rejection says the same thing, so a failure reveals nothing about which check failed.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import jwt

from chalicelib import errors
from chalicelib.accounts import USERNAME_RE

log = logging.getLogger(__name__)

INVALID_TOKEN = "invalid or expired token"
# Cognito tokens are 1-2 kB; refuse absurd input before spending any work on it.
TOKEN_MAX = 8192
JWKS_LIFESPAN = 3600  # Cognito rotates keys rarely; an hour keeps a cold start to one fetch
ALGORITHMS = ["RS256"]  # hard-coded: never taken from the token header
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use"]


class SigningKeySource(Protocol):
    """What the verifier needs of a ``jwt.PyJWKClient``; tests pass a fake with this method."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


def default_jwks_url(region: str, user_pool_id: str) -> str:
    """Where Cognito publishes a user pool's signing keys."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}/.well-known/jwks.json"


class TokenVerifier:
    """Checks a Cognito ID or access token issued to one app client of one user pool."""

    def __init__(
        self,
        *,
        region: str,
        user_pool_id: str,
        client_id: str,
        jwks_url: str | None = None,
        jwk_client: jwt.PyJWKClient | SigningKeySource | None = None,
        leeway: int = 0,
    ) -> None:
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self.client_id = client_id
        self.leeway = leeway
        self.jwks_url = jwks_url or default_jwks_url(region, user_pool_id)
        # Built here but fetches nothing until the first verify; keys and the key set are cached
        # for the container's life, so warm invocations never touch the network.
        self._keys: SigningKeySource = jwk_client or jwt.PyJWKClient(
            self.jwks_url, cache_keys=True, lifespan=JWKS_LIFESPAN, timeout=5
        )

    def verify(self, token: str) -> str:
        """Return the username (lower-cased) of a valid token; raise errors.Unauthorized otherwise."""
        return self._username(self.verify_claims(token))

    def verify_claims(self, token: str) -> dict[str, Any]:
        """Return the verified claims of a valid token (for `iat`, `sub`...); raise like `verify`.

        The username is checked here too, so a caller may read it from the claims it gets back.
        """
        if not isinstance(token, str) or not 0 < len(token) <= TOKEN_MAX:
            raise errors.Unauthorized(INVALID_TOKEN)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise errors.Unauthorized(INVALID_TOKEN) from None
        # Decided before any key lookup: "none" and HS256-with-the-public-key never get near a key.
        # PyJWT enforces the same through `algorithms`; this only saves the JWKS round trip.
        if header.get("alg") not in ALGORITHMS:
            raise errors.Unauthorized(INVALID_TOKEN)
        claims = self._decode(token, self._signing_key(token))
        self._username(claims)
        return claims

    def _signing_key(self, token: str) -> Any:
        try:
            return self._keys.get_signing_key_from_jwt(token).key
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as exc:
            # The JWKS endpoint is down or served garbage: our fault, not the caller's.
            log.warning("JWKS fetch from %s failed: %s", self.jwks_url, exc)
            raise errors.ServiceUnavailable("cannot verify tokens right now, please retry") from exc
        except jwt.PyJWTError:
            # Unknown kid (forged, or another pool's), malformed token.
            raise errors.Unauthorized(INVALID_TOKEN) from None
        except (ValueError, OSError) as exc:
            # e.g. a non-JSON body: PyJWKClient lets json's ValueError through unwrapped.
            log.warning("JWKS from %s unusable: %s", self.jwks_url, type(exc).__name__)
            raise errors.ServiceUnavailable("cannot verify tokens right now, please retry") from exc

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                leeway=self.leeway,
                # `aud` exists only on ID tokens; it is checked below, per token_use.
                options={"require": REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.PyJWTError:
            raise errors.Unauthorized(INVALID_TOKEN) from None
        token_use = claims.get("token_use")
        # Exact string comparison: Cognito never issues a list audience, and a list must not
        # smuggle our client id in next to someone else's.
        if token_use == "id" and claims.get("aud") == self.client_id:
            return claims
        if token_use == "access" and claims.get("client_id") == self.client_id:
            return claims
        raise errors.Unauthorized(INVALID_TOKEN)

    @staticmethod
    def _username(claims: dict[str, Any]) -> str:
        raw = claims.get("cognito:username" if claims["token_use"] == "id" else "username")
        name = raw.lower() if isinstance(raw, str) else ""
        # The username becomes a key part everywhere; a token for a name our sign-up would never
        # have created (an admin-made user, say) is refused rather than trusted.
        if not USERNAME_RE.fullmatch(name):
            raise errors.Unauthorized(INVALID_TOKEN)
        return name


def bearer_token(authorization_header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header; raise Unauthorized otherwise."""
    if not isinstance(authorization_header, str) or not authorization_header.strip():
        raise errors.Unauthorized("missing bearer token")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    # The scheme is case-insensitive (RFC 7235); a token never contains whitespace.
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token) or len(token) > TOKEN_MAX:
        raise errors.Unauthorized(INVALID_TOKEN)
    return token
