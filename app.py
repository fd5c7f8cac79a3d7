"""The gallery's routes and event handlers: parse the request, call the domain, shape the response.

Domain code lives in `chalicelib`; errors it raises are mapped to HTTP answers in one place
(`_answer_errors`), because Chalice turns any other exception raised in a view into a bare 500.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalice import Chalice, Rate, Response
from chalice.app import Request

from chalicelib import aws, config, formats, observability, openapi, storage, validation, webui
from chalicelib.albums import AlbumSummary
from chalicelib.errors import GalleryError, ServiceUnavailable, Unauthorized
from chalicelib.photos import Filters
from chalicelib.services import Services, services

app = Chalice(app_name="gallery")
app.log.setLevel(logging.INFO)
app.api.binary_types.extend(t for t in formats.ALLOWED_TYPES if t not in app.api.binary_types)

IMAGE_BODY_TYPES = [*formats.ALLOWED_TYPES, formats.OCTET_STREAM]
JSON = ["application/json"]
_THROTTLING = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
}


Headers = dict[str, str | list[str]]


def _error(status: int, code: str, message: str, headers: Headers | None = None) -> Response:
    return Response(body={"Code": code, "Message": message}, status_code=status, headers=headers or {})


def _answer_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors and AWS faults into clear 4xx/503 answers instead of a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        aws.FUNCTION.set("api_handler")
        try:
            return view(*args, **kwargs)
        except ServiceUnavailable as error:
            return _error(503, error.code, error.message, {"Retry-After": str(error.retry_after)})
        except GalleryError as error:
            return _error(error.status, error.code, error.message)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            app.log.warning("AWS call failed in %s: %s", view.__name__, code)
            return _error(
                503,
                "ServiceUnavailable",
                "a storage service is busy or failing; try again",
                {"Retry-After": "2" if code in _THROTTLING else "5"},
            )
        except BotoCoreError as error:
            app.log.warning("AWS call failed in %s: %s", view.__name__, error)
            return _error(
                503, "ServiceUnavailable", "a storage service is unreachable; try again", {"Retry-After": "5"}
            )

    return wrapper


def route(path: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`app.route` whose view answers domain errors as JSON."""

    def register(view: Callable[..., Any]) -> Any:
        return app.route(path, **options)(_answer_errors(view))

    return register


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while handling a request"
    return request


def _raw_body() -> bytes:
    raw = _request().raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")


def _svc() -> Services:
    return services(config.load())


def _caller() -> str:
    """The signed-in username: the one place a request's identity comes from."""
    header = _request().headers.get("authorization")
    username = _svc().identify(header)
    observability.annotate(username=username)
    return username


def _query(name: str) -> str | None:
    params: Any = _request().query_params or {}
    value = params.get(name)
    return value if isinstance(value, str) else None


def _json_body(*, allowed: set[str], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    return validation.json_object(_raw_body(), allowed=allowed, required=required)


def _page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


def _album(svc: Services, summary: AlbumSummary) -> dict[str, Any]:
    """An album with its count and cover photo (as the owner sees photos: renditions and all)."""
    return {**summary.view, "cover": svc.photos.owner_view(summary.cover) if summary.cover else None}


# Accounts


@route("/auth/signup", methods=["POST"], content_types=JSON)
def signup() -> Response:
    body = _json_body(
        allowed={"username", "email", "password"}, required=frozenset({"username", "email", "password"})
    )
    observability.annotate(username=body["username"])
    return Response(body=_svc().users.signup(**body), status_code=201)


@route("/auth/confirm", methods=["POST"], content_types=JSON)
def confirm() -> dict[str, Any]:
    body = _json_body(allowed={"username", "code"}, required=frozenset({"username", "code"}))
    _svc().users.confirm(**body)
    return {"username": body["username"], "confirmed": True}


@route("/auth/login", methods=["POST"], content_types=JSON)
def login() -> dict[str, Any]:
    body = _json_body(allowed={"username", "password"}, required=frozenset({"username", "password"}))
    observability.annotate(username=body["username"])
    return _svc().users.login(**body)


@route("/auth/refresh", methods=["POST"], content_types=JSON)
def refresh() -> dict[str, Any]:
    body = _json_body(allowed={"refresh_token"}, required=frozenset({"refresh_token"}))
    return _svc().users.refresh(**body)


# Photos


@route("/images", methods=["POST"], content_types=IMAGE_BODY_TYPES)
def upload_image() -> Response:
    owner = _caller()
    svc = _svc()
    upload = svc.photos.upload_inline(
        owner,
        _raw_body(),
        title=_query("title"),
        description=_query("description"),
        filename=_query("filename"),
    )
    view = svc.photos.owner_view(upload.photo)
    observability.annotate(photo_id=upload.photo.id)
    if upload.duplicate:
        return Response(body={**view, "duplicate": True}, status_code=200)
    observability.count(observability.UPLOADS, path="inline")
    return Response(body=view, status_code=201)


@route("/uploads", methods=["POST"], content_types=JSON)
def start_upload() -> Response:
    owner = _caller()
    body = _json_body(
        allowed={"filename", "content_type", "size", "title", "description", "sha256"},
        required=frozenset({"filename", "content_type", "size"}),
    )
    svc = _svc()
    upload = svc.photos.start_direct_upload(owner, **body)
    view = svc.photos.owner_view(upload.photo)
    observability.annotate(photo_id=upload.photo.id)
    if upload.duplicate:
        return Response(body={"id": upload.photo.id, "duplicate": True, "photo": view}, status_code=200)
    observability.count(observability.UPLOADS, path="direct")
    return Response(
        body={
            "id": upload.photo.id,
            "upload": upload.request,
            "expires_at": view["expires_at"],
            "photo": view,
        },
        status_code=201,
    )


@route("/images", methods=["GET"])
def list_images() -> Any:
    owner = _caller()
    svc = _svc()
    favorite = _query("favorite")
    if favorite not in (None, "true", "false"):
        return _error(400, "BadRequestError", "favorite must be true or false")
    filters = Filters(
        q=_query("q") or None,
        tag=_query("tag") or None,
        camera=_query("camera") or None,
        album=_query("album") or None,
        favorite=favorite == "true",
        taken_from=validation.iso_date(_query("taken_from"), name="taken_from"),
        taken_to=validation.iso_date(_query("taken_to"), name="taken_to"),
    )
    limit, cursor = validation.limit(_query("limit")), _query("cursor")
    if filters:
        page = svc.photos.search(owner, filters, limit=limit, cursor=cursor)
    else:
        page = svc.photos.gallery(owner, limit=limit, cursor=cursor)
    return _page([svc.photos.owner_view(p) for p in page.items], page.next_cursor)


@route("/images/{photo_id}", methods=["GET"])
def get_image(photo_id: str) -> Any:
    owner = _caller()
    photos = _svc().photos
    photo = photos.get(owner, photo_id, trashed=True)
    download = _query("download")
    if download is not None:
        if download not in ("true", "false", "1", "0"):
            return _error(400, "BadRequestError", "download must be true or false")
        if download in ("true", "1"):
            return Response(body="", status_code=302, headers={"Location": photos.download_url(photo)})
    return photos.owner_view(photo)


@route("/images/{photo_id}", methods=["PATCH"], content_types=JSON)
def edit_image(photo_id: str) -> dict[str, Any]:
    owner = _caller()
    body = _json_body(allowed={"title", "description", "visibility", "favorite", "tags"})
    photos = _svc().photos
    return photos.owner_view(photos.edit(owner, photo_id, body))


@route("/images/{photo_id}", methods=["DELETE"])
def delete_image(photo_id: str) -> Response:
    owner = _caller()
    _svc().photos.delete(owner, photo_id)
    return Response(body="", status_code=204)


# Trash


@route("/images/{photo_id}/trash", methods=["POST"])
def trash_image(photo_id: str) -> dict[str, Any]:
    owner = _caller()
    photos = _svc().photos
    return photos.owner_view(photos.trash(owner, photo_id))


@route("/images/{photo_id}/restore", methods=["POST"])
def restore_image(photo_id: str) -> dict[str, Any]:
    owner = _caller()
    photos = _svc().photos
    photos.get(owner, photo_id, trashed=True)
    return photos.owner_view(photos.restore(owner, photo_id))


@route("/trash", methods=["GET"])
def list_trash() -> dict[str, Any]:
    owner = _caller()
    photos = _svc().photos
    page = photos.list_trash(owner, limit=validation.limit(_query("limit")), cursor=_query("cursor"))
    return _page([photos.owner_view(p) for p in page.items], page.next_cursor)


@route("/trash", methods=["DELETE"])
def empty_trash() -> dict[str, Any]:
    return {"deleted": _svc().photos.empty_trash(_caller())}


# Albums


@route("/albums", methods=["POST"], content_types=JSON)
def create_album() -> Response:
    owner = _caller()
    body = _json_body(allowed={"title", "description"}, required=frozenset({"title"}))
    svc = _svc()
    return Response(body=_album(svc, svc.albums.create(owner, body)), status_code=201)


@route("/albums", methods=["GET"])
def list_albums() -> dict[str, Any]:
    owner = _caller()
    svc = _svc()
    page = svc.albums.list_albums(owner, limit=validation.limit(_query("limit")), cursor=_query("cursor"))
    return _page([_album(svc, summary) for summary in page.items], page.next_cursor)


@route("/albums/{album_id}", methods=["GET"])
def get_album(album_id: str) -> dict[str, Any]:
    owner = _caller()
    svc = _svc()
    summary, photos, next_cursor = svc.albums.open(
        owner, album_id, limit=validation.limit(_query("limit")), cursor=_query("cursor")
    )
    return {
        **_album(svc, summary),
        "items": [svc.photos.owner_view(p) for p in photos],
        "next_cursor": next_cursor,
    }


@route("/albums/{album_id}", methods=["PATCH"], content_types=JSON)
def edit_album(album_id: str) -> dict[str, Any]:
    owner = _caller()
    body = _json_body(allowed={"title", "description", "cover_image_id", "order"})
    svc = _svc()
    return _album(svc, svc.albums.update(owner, album_id, body))


@route("/albums/{album_id}", methods=["DELETE"])
def delete_album(album_id: str) -> Response:
    _svc().albums.delete(_caller(), album_id)
    return Response(body="", status_code=204)


@route("/albums/{album_id}/images", methods=["POST"], content_types=JSON)
def add_to_album(album_id: str) -> dict[str, Any]:
    owner = _caller()
    body = _json_body(allowed={"image_ids"}, required=frozenset({"image_ids"}))
    return _svc().albums.add(owner, album_id, body["image_ids"])


@route("/albums/{album_id}/images/{photo_id}", methods=["DELETE"])
def remove_from_album(album_id: str, photo_id: str) -> Response:
    _svc().albums.remove(_caller(), album_id, photo_id)
    return Response(body="", status_code=204)


# Share links


@route("/shares", methods=["POST"], content_types=JSON)
def create_share() -> Response:
    owner = _caller()
    body = _json_body(allowed={"album_id", "image_id", "expires_in", "password", "allow_download"})
    share = _svc().shares.create(owner, body)
    return Response(body={**share, "url": _public_url(f"s/{share['token']}")}, status_code=201)


@route("/shares", methods=["GET"])
def list_shares() -> dict[str, Any]:
    return _svc().shares.list_shares(_caller())


@route("/shares/{token}", methods=["DELETE"])
def revoke_share(token: str) -> Response:
    _svc().shares.revoke(_caller(), token)
    return Response(body="", status_code=204)


@route("/shares/{token}/content", methods=["GET"])
def share_content(token: str) -> dict[str, Any]:
    password = _request().headers.get("x-share-password")
    return _svc().shares.content(
        token, password=password, limit=validation.limit(_query("limit")), cursor=_query("cursor")
    )


def _public_url(path: str) -> str:
    """An absolute URL of the web UI for `path`, as the caller reached this API."""
    request = _request()
    host = request.headers.get("host", "127.0.0.1:8000")
    proto = request.headers.get(
        "x-forwarded-proto", "http" if host.startswith(("127.", "localhost")) else "https"
    )
    stage = (request.context or {}).get("stage", "")
    prefix = f"/{stage}" if stage and host.endswith(".amazonaws.com") else ""
    return f"{proto}://{host}{prefix}/{path}"


# Profiles, the public feed and walls


@route("/users/me", methods=["GET"])
def my_profile() -> dict[str, Any]:
    return _svc().users.profile(_caller())


@route("/users/me", methods=["PUT"], content_types=JSON)
def update_my_profile() -> dict[str, Any]:
    username = _caller()
    body = _json_body(allowed={"display_name", "bio"})
    return _svc().users.update_profile(username, body)


@route("/users/me", methods=["DELETE"])
def delete_my_account() -> Response:
    _svc().users.delete_account(_caller())
    return Response(body="", status_code=204)


@route("/users/{username}", methods=["GET"])
def user_profile(username: str) -> dict[str, Any]:
    return _svc().users.public_profile(username)


@route("/users/{username}/images", methods=["GET"])
def user_wall(username: str) -> dict[str, Any]:
    svc = _svc()
    owner = svc.users.public_profile(username)["username"]
    page = svc.photos.wall(owner, limit=validation.limit(_query("limit")), cursor=_query("cursor"))
    return _page([svc.photos.public_view(p) for p in page.items], page.next_cursor)


@route("/feed", methods=["GET"])
def feed() -> dict[str, Any]:
    svc = _svc()
    page = svc.photos.feed(limit=validation.limit(_query("limit")), cursor=_query("cursor"))
    return _page([svc.photos.public_view(p) for p in page.items], page.next_cursor)


# The web UI (static files under chalicelib/web/)


def _serve(name: str) -> Response:
    found = webui.asset(name)
    if found is None:
        return _error(404, "NotFoundError", "no such file")
    headers: Headers = {
        "Content-Type": found.content_type,
        "ETag": found.etag,
        "Cache-Control": found.cache_control,
        "X-Content-Type-Options": "nosniff",
    }
    if _request().headers.get("if-none-match") == found.etag:
        return Response(body="", status_code=304, headers=headers)
    textual = found.content_type.startswith(("text/", "application/"))
    text = found.body.decode("utf-8") if textual else found.body
    return Response(body=text, status_code=200, headers=headers)


@app.route("/", methods=["GET"])
def index() -> Response:
    # Deployed, the page lives at /api/; opened as /api its relative links would leave the stage.
    path = str((_request().context or {}).get("path") or "/")
    if not path.endswith("/"):
        return Response(body="", status_code=301, headers={"Location": path + "/"})
    return _serve("index.html")


@app.route("/s/{token}", methods=["GET"])
def share_page(token: str) -> Response:
    """A share link opens the web UI, which shows what the token opens. One level down, so the page's
    relative URLs (its assets, the API) resolve against the app's root through a <base>."""
    page = _serve("index.html")
    if page.status_code == 200 and isinstance(page.body, str):
        page.body = page.body.replace("<head>", '<head>\n<base href="../">', 1)
    return page


@app.route("/static/{name}", methods=["GET"])
def static(name: str) -> Response:
    return _serve(name)


# The contract, and 405 for every method a path lacks


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of this API (chalicelib/openapi.py), with the caller's base URL."""
    request = _request()
    host = request.headers.get("host", "127.0.0.1:8000")
    local = host.startswith(("127.", "localhost"))
    proto = request.headers.get("x-forwarded-proto", "http" if local else "https")
    stage = (request.context or {}).get("stage", "")
    prefix = f"/{stage}" if stage and host.endswith(".amazonaws.com") else ""
    return openapi.document(f"{proto}://{host}{prefix}")


# Methods API Gateway can route; a path gets a 405 view for each it lacks (there, an unrouted method
# would answer 403 "Missing Authentication Token"). Register routes above this point.
_ROUTABLE = ("GET", "POST", "PUT", "PATCH", "DELETE")
NOT_ALLOWED_VIEW = "method_not_allowed"


def method_not_allowed(**_params: str) -> Response:
    request = _request()
    entries = app.routes[request.context["resourcePath"]].items()
    allowed = ", ".join(m for m, entry in entries if entry.view_name != NOT_ALLOWED_VIEW)
    return Response(
        body={"Code": "MethodNotAllowedError", "Message": f"{request.method} is not allowed; use {allowed}"},
        status_code=405,
        headers={"Allow": allowed},
    )


def _answer_405_for_missing_methods() -> None:
    for path, entries in list(app.routes.items()):
        missing = [m for m in _ROUTABLE if m not in entries]
        if missing:
            # Any body type: the answer is 405 whatever was sent (not 415).
            app.route(path, methods=missing, name=NOT_ALLOWED_VIEW, content_types=["*/*"])(method_not_allowed)


def _route_every_method_locally() -> None:
    """Under `chalice local` only: its HTTP server answers 501 to methods it has no `do_X` for (TRACE,
    QUERY...), which fuzzers count as a server error. Hand them to the app, which answers 405."""
    server = sys.modules.get("chalice.local")
    handler = getattr(server, "ChaliceRequestHandler", None)
    if handler is None:
        return
    for method in ("TRACE", "CONNECT", "QUERY", "SEARCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",
                   "LOCK", "UNLOCK", "PURGE", "LINK", "UNLINK"):
        setattr(handler, f"do_{method}", handler._generic_handle)


_answer_405_for_missing_methods()
_route_every_method_locally()


# Observability: one JSON log line and the metrics of every request and event (chalicelib/observability.py)


@app.middleware("http")
def observe_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every route, wrapped or not (static files, 405s): logged by its template, never its raw path
    (a share link's path holds its token). A view's exception reaches here as Chalice's 500."""
    context = event.context or {}
    params = event.uri_params or {}
    route = f"{event.method} {context.get('resourcePath', '?')}"
    request_id = context.get("requestId") or _invocation_id(event)
    with observability.invocation(
        "api", route, request_id=request_id, photo_id=params.get("photo_id"), album_id=params.get("album_id")
    ) as record:
        response = get_response(event)
        record.outcome = response.status_code
        return response


def _invocation_id(event: Any) -> str:
    """The Lambda request id of the invocation handling `event` ("" when there is none)."""
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    return str(getattr(context, "aws_request_id", "") or "")


# Event handlers


@app.on_s3_event(bucket=config.import_time_bucket(), prefix="uploads/", events=["s3:ObjectCreated:*"])
def handle_upload(event: Any) -> None:
    """Make the renditions of a photo whose bytes just landed under `uploads/`."""
    aws.FUNCTION.set("handle_upload")
    parsed = storage.parse_photo_key(event.key)
    owner, photo_id = (parsed[1], parsed[2]) if parsed else (None, None)
    with observability.invocation(
        "s3", "handle_upload", request_id=_invocation_id(event), key=event.key, username=owner,
        photo_id=photo_id, on_error=(observability.PROCESSING_ERRORS, {}),
    ) as record:
        svc = _svc()
        record.outcome = outcome = svc.photos.process_upload(event.key)
        reason = None
        if outcome == "rejected" and owner and photo_id:
            rejected = svc.photos.catalog.get(owner, photo_id)
            reason = rejected.reason if rejected else None
            record.annotate(reason=observability.reject_reason(reason))
        size = event.to_dict().get("Records", [{}])[0].get("s3", {}).get("object", {}).get("size", 0)
        observability.photo_processed(record, outcome, size=int(size or 0), reason=reason)


@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_trash(event: Any) -> None:
    """Delete for good the trashed photos whose time (TRASH_DAYS) is up."""
    aws.FUNCTION.set("purge_trash")
    with observability.invocation("schedule", "purge_trash", request_id=_invocation_id(event)) as record:
        deleted = _svc().photos.purge_due()
        record.outcome = "ok"
        record.annotate(deleted=deleted)
        record.count(observability.PURGED_PHOTOS, deleted)


# A photo still `processing` this long after its last claim is stuck (the StuckPhotos alarm).
STUCK_AFTER_SECONDS = 15 * 60


@app.schedule(Rate(5, unit=Rate.MINUTES))
def check_stuck(event: Any) -> None:
    """Count the photos stuck in `processing` (one Query on the `purge` index's PROCESSING partition)."""
    aws.FUNCTION.set("check_stuck")
    with observability.invocation("schedule", "check_stuck", request_id=_invocation_id(event)) as record:
        stuck = _svc().photos.stuck(older_than=STUCK_AFTER_SECONDS)
        record.outcome = "ok" if not stuck else "stuck"
        record.annotate(stuck=len(stuck), examples=[f"{owner}/{pid}" for owner, pid in stuck[:5]])
        record.count(observability.STUCK_PHOTOS, len(stuck))


@app.on_sqs_message(queue=config.import_time_work_queue(), batch_size=1)
def handle_work(event: Any) -> None:
    """Run background jobs from the work queue (one message per invocation)."""
    aws.FUNCTION.set("handle_work")
    svc = _svc()
    for record in event:
        job = json.loads(record.body)
        kind = str(job.get("type", "unknown"))
        with observability.invocation(
            "sqs", "handle_work", request_id=_invocation_id(event),
            message_id=record.to_dict().get("messageId"), job=kind,
            username=job.get("owner") or job.get("username"), photo_id=job.get("id"),
            on_error=(observability.JOBS_FAILED, {"job": kind}),
        ) as observed:
            observed.outcome = svc.jobs.run(job)
            observed.count(observability.JOBS_DONE, job=kind)


__all__ = ["app", "Unauthorized"]
