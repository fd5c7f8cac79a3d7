"""The API's contract: an OpenAPI 3 document of every route, served at `GET /openapi.json`.

Built as a plain dict, one small `_op(...)` call per route, so adding a route to `app.py` means adding
one entry to `_PATHS` below (tests/test_openapi.py fails until it is there, and fails if a documented
route goes away). Schemathesis fuzzes the running stack from this document, so the response schemas
are the promise: every answer of a route must match what is written here, errors included.
"""

from __future__ import annotations

import copy
from typing import Any

from .models import PRIVATE, PUBLIC, STATUSES

Schema = dict[str, Any]

ID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"
IMAGE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/avif",
    "application/octet-stream",
)
# Every 4xx/5xx of the API is `{"Code", "Message"}`; these are the ones any route may answer.
_DESCRIPTIONS = {
    "400": "Malformed request or a value out of range",
    "401": "Missing, expired or forged token",
    "403": "Known caller, not allowed",
    "404": "No such resource (or not the caller's)",
    "405": "Method not allowed on this path",
    "409": "Conflict: already exists, or changed meanwhile",
    "413": "Body too large",
    "415": "Body of a type this route does not take",
    "429": "Too many attempts: slow down",
    "503": "A dependency is busy or failing: retry after Retry-After seconds",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_BOOL: Schema = {"type": "boolean"}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["Code", "Message"],
        "properties": {"Code": _STR, "Message": _STR},
    },
    "Urls": {"type": "object", "additionalProperties": _STR},
    # What the owner sees of a photo. A `duplicate` record shows only id, status and duplicate_of.
    "Photo": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "status": {"type": "string", "enum": list(STATUSES)},
            "title": _STR,
            "description": _STR,
            "filename": _STR,
            "content_type": _STR,
            "size": _INT,
            "width": _nullable(_INT),
            "height": _nullable(_INT),
            "visibility": {"type": "string", "enum": [PRIVATE, PUBLIC]},
            "created_at": _STR,
            "updated_at": _STR,
            "taken_at": _nullable(_STR),
            "camera": {"type": "object"},
            "gps": _nullable({"type": "object"}),
            "placeholder": _nullable(_STR),
            "dominant_color": _nullable(_STR),
            "favorite": _BOOL,
            "sha256": _nullable(_STR),
            "tags": {"type": "array", "items": _STR},
            "trashed_at": _STR,
            "deletes_at": _STR,
            "expires_at": _STR,
            "reason": _nullable(_STR),
            "error": _nullable(_STR),
            "duplicate_of": _nullable(_STR),
            "duplicate": _BOOL,
            "urls": _ref("Urls"),
        },
    },
    # What anyone may see of a public photo: no original, GPS or file details.
    "PublicPhoto": {
        "type": "object",
        "required": ["id", "urls"],
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "owner": _STR,
            "title": _STR,
            "description": _STR,
            "width": _nullable(_INT),
            "height": _nullable(_INT),
            "created_at": _STR,
            "taken_at": _nullable(_STR),
            "camera": {"type": "object"},
            "placeholder": _nullable(_STR),
            "dominant_color": _nullable(_STR),
            "urls": _ref("Urls"),
        },
        "not": {"anyOf": [{"required": ["gps"]}, {"required": ["filename"]}]},
    },
    "Page": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {"items": {"type": "array", "items": _ref("Photo")}, "next_cursor": _nullable(_STR)},
    },
    "PublicPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("PublicPhoto")},
            "next_cursor": _nullable(_STR),
        },
    },
    "UploadGrant": {
        "type": "object",
        "required": ["id", "photo"],
        "properties": {
            "id": _STR,
            "duplicate": _BOOL,
            "expires_at": _STR,
            "photo": _ref("Photo"),
            "upload": {
                "type": "object",
                "required": ["method", "url", "headers"],
                "properties": {
                    "method": {"type": "string", "enum": ["PUT"]},
                    "url": _STR,
                    "headers": {"type": "object", "additionalProperties": _STR},
                },
            },
        },
    },
    "Profile": {
        "type": "object",
        "required": ["username", "display_name", "bio"],
        "properties": {"username": _STR, "display_name": _STR, "bio": _STR, "photo_count": _INT},
    },
    "SignupResult": {
        "type": "object",
        "required": ["username", "confirmed"],
        "properties": {"username": _STR, "confirmed": _BOOL},
    },
    "Tokens": {
        "type": "object",
        "required": ["id_token", "access_token", "expires_in"],
        "properties": {"id_token": _STR, "access_token": _STR, "refresh_token": _STR, "expires_in": _INT},
    },
    "Album": {
        "type": "object",
        "required": ["id", "title"],
        "properties": {
            "id": _STR,
            "title": _STR,
            "description": _nullable(_STR),
            "cover_image_id": _nullable(_STR),
            "created_at": _nullable(_STR),
            "updated_at": _nullable(_STR),
            "order": _nullable({"type": "array", "items": _STR}),
            "count": _INT,
            "cover": _nullable(_ref("Photo")),
            "items": {"type": "array", "items": _ref("Photo")},
            "next_cursor": _nullable(_STR),
        },
    },
    "AlbumPage": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Album")}, "next_cursor": _nullable(_STR)},
    },
    "Share": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _STR,
            "token": _STR,
            "url": _STR,
            "album_id": _nullable(_STR),
            "image_id": _nullable(_STR),
            "created_at": _STR,
            "expires_at": _STR,
            "expired": _BOOL,
            "has_password": _BOOL,
            "allow_download": _BOOL,
        },
    },
    "ShareList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Share")}},
    },
    "SharedContent": {
        "type": "object",
        "required": ["items", "expires_at", "allow_download"],
        "properties": {
            "expires_at": _STR,
            "allow_download": _BOOL,
            "album": {"type": "object", "properties": {"title": _STR, "description": _STR}},
            "items": {"type": "array", "items": _ref("PublicPhoto")},
            "next_cursor": _nullable(_STR),
        },
    },
}


def _object(properties: dict[str, Schema], *required: str) -> Schema:
    """A JSON body: exactly these fields (the API answers 400 to any other)."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


_TITLE: Schema = {"type": "string", "maxLength": 200}
_DESCRIPTION: Schema = {"type": "string", "maxLength": 2000}
_USERNAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]{3,32}$"}
_PASSWORD: Schema = {"type": "string", "minLength": 1, "maxLength": 256}

# Reusable parameters.
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
}
_CURSOR = {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}}
_PAGING = [_LIMIT, _CURSOR]


def _path(name: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_PHOTO_ID = _path("photo_id", {"type": "string", "pattern": ID_PATTERN})
_ALBUM_ID = _path("album_id", {"type": "string", "pattern": ID_PATTERN})


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _op(
    summary: str,
    *,
    ok: tuple[int, Schema | None] | tuple[int, Schema | None, str] = (200, None),
    errors: tuple[int, ...] = (),
    body: Schema | None = None,
    raw_body: tuple[str, ...] = (),
    params: list[dict[str, Any]] | None = None,
    auth: bool = True,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation. `ok` is (status, JSON schema or None for no body[, media type])."""
    status, schema = ok[0], ok[1]
    media = ok[2] if len(ok) == 3 else "application/json"  # type: ignore[misc]
    success: dict[str, Any] = {"description": summary}
    if schema is not None:
        success["content"] = {media: {"schema": schema}}
    if headers:
        success["headers"] = headers
    responses: dict[str, Any] = {str(status): success}
    codes = set(errors) | {503}
    if auth:
        codes.add(401)
    if body is not None or raw_body:
        codes |= {400, 415}
    for code in sorted(codes):
        answer: dict[str, Any] = {"description": _DESCRIPTIONS[str(code)], "content": _json(_ref("Error"))}
        if code == 503:
            answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        responses[str(code)] = answer
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
    elif raw_body:
        op["requestBody"] = {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in raw_body},
        }
    op["security"] = [{"bearer": []}] if auth else []
    return op


_HTML = ({"type": "string"}, "text/html")

# path -> method -> operation. One entry per route of app.py.
_PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/openapi.json": {
        "get": _op("This document", ok=(200, {"type": "object"}), auth=False),
    },
    # Accounts
    "/auth/signup": {
        "post": _op(
            "Create an account",
            ok=(201, _ref("SignupResult")),
            errors=(409, 429),
            auth=False,
            body=_object(
                {
                    "username": _USERNAME,
                    "email": {"type": "string", "format": "email"},
                    "password": _PASSWORD,
                },
                "username",
                "email",
                "password",
            ),
        )
    },
    "/auth/confirm": {
        "post": _op(
            "Confirm an account with the code sent by email",
            ok=(200, _ref("SignupResult")),
            errors=(404, 409, 429),
            auth=False,
            body=_object({"username": _USERNAME, "code": _STR}, "username", "code"),
        )
    },
    "/auth/login": {
        "post": _op(
            "Sign in: tokens",
            ok=(200, _ref("Tokens")),
            errors=(403, 429),
            auth=False,
            body=_object({"username": _USERNAME, "password": _PASSWORD}, "username", "password"),
        )
    },
    "/auth/refresh": {
        "post": _op(
            "New id and access tokens from a refresh token",
            ok=(200, _ref("Tokens")),
            errors=(429,),
            auth=False,
            body=_object({"refresh_token": _STR}, "refresh_token"),
        )
    },
    # Photos
    "/images": {
        "post": _op(
            "Upload a photo in the request body (up to MAX_INLINE_BYTES)",
            ok=(201, _ref("Photo")),
            errors=(413,),
            raw_body=IMAGE_TYPES,
            params=[
                _query("title", _TITLE),
                _query("description", _DESCRIPTION),
                _query("filename", {"type": "string", "maxLength": 255}),
            ],
        ),
        "get": _op(
            "The caller's photos, newest first, optionally narrowed",
            ok=(200, _ref("Page")),
            errors=(404,),
            params=[
                _query("q", _STR),
                _query("tag", _STR),
                _query("camera", _STR),
                _query("album", _STR),
                _query("favorite", {"type": "string", "enum": ["true", "false"]}),
                _query("taken_from", {"type": "string", "format": "date"}),
                _query("taken_to", {"type": "string", "format": "date"}),
                *_PAGING,
            ],
        ),
    },
    "/uploads": {
        "post": _op(
            "Start a direct upload: a pending photo and a presigned PUT to S3",
            ok=(201, _ref("UploadGrant")),
            errors=(413,),
            body=_object(
                {
                    "filename": {"type": "string", "maxLength": 255},
                    "content_type": {"type": "string", "enum": list(IMAGE_TYPES)},
                    "size": {"type": "integer", "minimum": 1},
                    "title": _TITLE,
                    "description": _DESCRIPTION,
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
                "filename",
                "content_type",
                "size",
            ),
        )
    },
    "/images/{photo_id}": {
        "get": _op(
            "One of the caller's photos (download=true: a 302 to the original)",
            ok=(200, _ref("Photo")),
            errors=(400, 404),
            params=[_PHOTO_ID, _query("download", {"type": "string", "enum": ["true", "false", "1", "0"]})],
        ),
        "patch": _op(
            "Edit a photo",
            ok=(200, _ref("Photo")),
            errors=(404,),
            params=[_PHOTO_ID],
            body=_object(
                {
                    "title": _TITLE,
                    "description": _DESCRIPTION,
                    "visibility": {"type": "string", "enum": [PRIVATE, PUBLIC]},
                    "favorite": _BOOL,
                    "tags": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 50}},
                }
            ),
        ),
        "delete": _op("Delete a photo for good", ok=(204, None), errors=(404,), params=[_PHOTO_ID]),
    },
    "/images/{photo_id}/trash": {
        "post": _op("Move a photo to the trash", ok=(200, _ref("Photo")), errors=(404,), params=[_PHOTO_ID])
    },
    "/images/{photo_id}/restore": {
        "post": _op(
            "Bring a photo back from the trash", ok=(200, _ref("Photo")), errors=(404,), params=[_PHOTO_ID]
        )
    },
    "/trash": {
        "get": _op("The caller's trashed photos", ok=(200, _ref("Page")), errors=(400,), params=_PAGING),
        "delete": _op(
            "Empty the trash",
            ok=(200, _object({"deleted": _INT}, "deleted")),
        ),
    },
    # Albums
    "/albums": {
        "post": _op(
            "Create an album",
            ok=(201, _ref("Album")),
            body=_object({"title": _TITLE, "description": _DESCRIPTION}, "title"),
        ),
        "get": _op("The caller's albums", ok=(200, _ref("AlbumPage")), errors=(400,), params=_PAGING),
    },
    "/albums/{album_id}": {
        "get": _op(
            "An album and one page of its photos",
            ok=(200, _ref("Album")),
            errors=(400, 404),
            params=[_ALBUM_ID, *_PAGING],
        ),
        "patch": _op(
            "Edit an album",
            ok=(200, _ref("Album")),
            errors=(404, 409),
            params=[_ALBUM_ID],
            body=_object(
                {
                    "title": _TITLE,
                    "description": _DESCRIPTION,
                    "cover_image_id": _nullable({"type": "string", "pattern": ID_PATTERN}),
                    "order": {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}},
                }
            ),
        ),
        "delete": _op("Delete an album (its photos stay)", ok=(204, None), errors=(404,), params=[_ALBUM_ID]),
    },
    "/albums/{album_id}/images": {
        "post": _op(
            "Add photos to an album",
            ok=(200, {"type": "object", "properties": {"album_id": _STR, "added": {"type": "array"}}}),
            errors=(404, 409),
            params=[_ALBUM_ID],
            body=_object(
                {
                    "image_ids": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 100,
                        "items": {"type": "string", "pattern": ID_PATTERN},
                    }
                },
                "image_ids",
            ),
        )
    },
    "/albums/{album_id}/images/{photo_id}": {
        "delete": _op(
            "Remove a photo from an album", ok=(204, None), errors=(404,), params=[_ALBUM_ID, _PHOTO_ID]
        )
    },
    # Share links
    "/shares": {
        "post": _op(
            "Create a share link to an album or a photo",
            ok=(201, _ref("Share")),
            errors=(404,),
            body=_object(
                {
                    "album_id": {"type": "string", "pattern": ID_PATTERN},
                    "image_id": {"type": "string", "pattern": ID_PATTERN},
                    "expires_in": {"type": "integer", "minimum": 60},
                    "password": {"type": "string", "minLength": 1, "maxLength": 200},
                    "allow_download": _BOOL,
                }
            ),
        ),
        "get": _op("The caller's share links", ok=(200, _ref("ShareList"))),
    },
    "/shares/{token}": {
        "delete": _op("Revoke a share link", ok=(204, None), errors=(404,), params=[_path("token")])
    },
    "/shares/{token}/content": {
        "get": _op(
            "What a share link opens (anyone holding the token)",
            ok=(200, _ref("SharedContent")),
            errors=(400, 401, 404, 429),
            auth=False,
            params=[
                _path("token"),
                {"name": "X-Share-Password", "in": "header", "required": False, "schema": _STR},
                *_PAGING,
            ],
        )
    },
    # Profiles, the public feed and walls
    "/users/me": {
        "get": _op("The caller's profile", ok=(200, _ref("Profile")), errors=(404,)),
        "put": _op(
            "Edit the caller's profile",
            ok=(200, _ref("Profile")),
            errors=(404,),
            body=_object(
                {
                    "display_name": {"type": "string", "maxLength": 100},
                    "bio": {"type": "string", "maxLength": 1000},
                }
            ),
        ),
        "delete": _op("Delete the caller's account and everything it owns", ok=(204, None)),
    },
    "/users/{username}": {
        "get": _op(
            "A user's public profile",
            ok=(200, _ref("Profile")),
            errors=(404,),
            auth=False,
            params=[_path("username")],
        )
    },
    "/users/{username}/images": {
        "get": _op(
            "A user's public photos",
            ok=(200, _ref("PublicPage")),
            errors=(400, 404),
            auth=False,
            params=[_path("username"), *_PAGING],
        )
    },
    "/feed": {
        "get": _op(
            "Everyone's public photos, newest first",
            ok=(200, _ref("PublicPage")),
            errors=(400,),
            auth=False,
            params=_PAGING,
        )
    },
    # The web UI
    "/": {"get": _op("The web UI", ok=(200, *_HTML), auth=False)},
    "/s/{token}": {
        "get": _op("A share link: the web UI", ok=(200, *_HTML), auth=False, params=[_path("token")])
    },
    "/static/{name}": {
        "get": _op(
            "A static file of the web UI",
            ok=(200, {"type": "string"}, "*/*"),
            errors=(404,),
            auth=False,
            params=[_path("name")],
        )
    },
}


def document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Photo gallery API",
            "version": "1",
            "description": "Every error is JSON {Code, Message}; 503 answers carry Retry-After.",
        },
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every documented operation."""
    return {(method.upper(), path) for path, ops in _PATHS.items() for method in ops}
