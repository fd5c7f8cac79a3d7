"""Accounts and profiles: sign-up and sign-in through Cognito, who a token belongs to, profiles,
and deleting an account with everything it owns.

Photos belong to the username, never the Cognito `sub` (the emulator hands out a new `sub` when its
state is restored). A profile item exists for every live account: a token whose account has no
profile (deleted) answers 401 even before it expires.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from boto3.dynamodb.conditions import Key

from . import validation
from .accounts import Accounts, normalize_username
from .albums import AlbumService
from .auth import TokenVerifier, bearer_token
from .config import Settings
from .errors import NotFound, ServiceUnavailable, Unauthorized
from .models import owner_pk
from .photos import PhotoService
from .queue import WorkQueue

PROFILE_SK = "PROFILE"
MAX_DISPLAY_NAME = 100
MAX_BIO = 1000
# Accounts with at most this many photos are emptied at once; larger ones by the work queue.
INLINE_PURGE_LIMIT = 25


class UserService:
    def __init__(
        self,
        *,
        settings: Settings,
        table: Any,
        cognito: Any,
        queue: WorkQueue,
        photos: PhotoService,
        albums: AlbumService,
    ) -> None:
        self.settings = settings
        self._table = table
        self._cognito = cognito
        self._queue = queue
        self._photos = photos
        self._albums = albums

    @functools.cached_property
    def accounts(self) -> Accounts:
        self._require_pool()
        return Accounts(
            self._cognito,
            user_pool_id=self.settings.user_pool_id,
            client_id=self.settings.user_pool_client_id,
            auto_confirm=self.settings.auto_confirm,
        )

    @functools.cached_property
    def verifier(self) -> TokenVerifier:
        self._require_pool()
        return TokenVerifier(
            region=self.settings.region,
            user_pool_id=self.settings.user_pool_id,
            client_id=self.settings.user_pool_client_id,
            jwks_url=self.settings.jwks_url or None,
            leeway=10,  # Cognito's clock and Lambda's may differ by a few seconds
        )

    def _require_pool(self) -> None:
        if not self.settings.user_pool_id or not self.settings.user_pool_client_id:
            raise ServiceUnavailable("sign-in is not configured for this stage", retry_after=60)

    # Accounts

    def signup(self, *, username: Any, email: Any, password: Any) -> dict[str, Any]:
        # Taken before Cognito creates the user, so every token of this account is issued after it.
        created_at = int(time.time())
        result = self.accounts.signup(username=username, email=email, password=password)
        self._table.put_item(
            Item={
                "PK": owner_pk(result["username"]),
                "SK": PROFILE_SK,
                "type": "profile",
                "username": result["username"],
                "display_name": result["username"],
                "bio": "",
                "created_at": created_at,
            }
        )
        return dict(result)

    def confirm(self, *, username: Any, code: Any) -> None:
        self.accounts.confirm(username=username, code=code)

    def login(self, *, username: Any, password: Any) -> dict[str, Any]:
        return dict(self.accounts.login(username=username, password=password))

    def refresh(self, *, refresh_token: Any) -> dict[str, Any]:
        return dict(self.accounts.refresh(refresh_token=refresh_token))

    def identify(self, authorization: str | None) -> str:
        """The username of a valid token whose account still exists."""
        token = bearer_token(authorization)
        claims = self.verifier.verify_claims(token)
        username = str(claims.get("cognito:username") or claims.get("username")).lower()
        profile = self._profile_item(username)
        # A token issued before this account was (re)created belongs to a deleted account of the
        # same name.
        if profile is None or int(claims.get("iat", 0)) < int(profile.get("created_at", 0)):
            raise Unauthorized("invalid or expired token")
        return username

    # Profiles

    def _profile_item(self, username: str) -> dict[str, Any] | None:
        response = self._table.get_item(Key={"PK": owner_pk(username), "SK": PROFILE_SK})
        return response.get("Item")

    def profile(self, username: str) -> dict[str, Any]:
        item = self._profile_item(username)
        if item is None:
            raise NotFound("no such user")
        return {
            "username": username,
            "display_name": item.get("display_name", username),
            "bio": item.get("bio", ""),
        }

    def public_profile(self, raw_username: str) -> dict[str, Any]:
        try:
            username = normalize_username(raw_username)
        except Exception:
            raise NotFound("no such user") from None
        view = self.profile(username)
        view["photo_count"] = self._public_count(username)
        return view

    def _public_count(self, username: str) -> int:
        count = 0
        kwargs: dict[str, Any] = {
            "IndexName": "wall",
            "Select": "COUNT",
            "KeyConditionExpression": Key("wall_pk").eq(f"WALL#{username}"),
        }
        while True:
            response = self._table.query(**kwargs)
            count += response["Count"]
            if "LastEvaluatedKey" not in response:
                return count
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def update_profile(self, username: str, changes: dict[str, Any]) -> dict[str, Any]:
        names, values = [], {}
        if "display_name" in changes:
            values[":d"] = validation.text_field(
                changes["display_name"], name="display_name", max_length=MAX_DISPLAY_NAME
            )
            names.append("display_name = :d")
        if "bio" in changes:
            values[":b"] = validation.text_field(
                changes["bio"], name="bio", max_length=MAX_BIO, multiline=True
            )
            names.append("bio = :b")
        if names:
            self._table.update_item(
                Key={"PK": owner_pk(username), "SK": PROFILE_SK},
                UpdateExpression="SET " + ", ".join(names),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
            )
        return self.profile(username)

    def delete_account(self, username: str) -> None:
        """Delete the account: its tokens, albums and share links stop working now, its photos go now
        or via the queue."""
        self._table.delete_item(Key={"PK": owner_pk(username), "SK": PROFILE_SK})
        self.accounts.delete_user(username)
        self.unshare(username)
        photos = self._photos.catalog.owner_photos(username)
        if len(photos) <= INLINE_PURGE_LIMIT:
            for photo in photos:
                self._photos.purge(photo)
        else:
            self._queue.send({"type": "purge_user", "username": username})

    def unshare(self, username: str) -> None:
        """Delete the account's albums and revoke every share link it made: nothing of a deleted
        account stays reachable, even while its photos wait in the queue to be deleted."""
        with self._table.batch_writer() as batch:
            for key in self._photos.catalog.share_keys(username):
                batch.delete_item(Key=key)
        self._albums.delete_all(username)

    def purge_photos(self, username: str, *, batch: int = 50) -> int:
        """Delete up to `batch` of a deleted user's photos; returns how many remain after."""
        if self._profile_item(username) is not None:
            return 0  # the account exists again: never purge a live account
        photos = self._photos.catalog.owner_photos(username)
        for photo in photos[:batch]:
            self._photos.purge(photo)
        return max(0, len(photos) - batch)
