"""Accounts, ownership, profiles, the public feed and walls: real Cognito tokens from moto."""

from __future__ import annotations

import json
import time

import pytest
from cognito_helpers import PASSWORD, Pool, claims_for, sign
from conftest import jpeg_variant, photo_bytes
from cryptography.hazmat.primitives.asymmetric import rsa
from gallery_client import Gallery

JPEG = photo_bytes("DSCN0010.jpg")  # carries GPS


def post(client, path, body, headers=None):
    response = client.http.post(path, body=json.dumps(body),
                                headers={"Content-Type": "application/json", **(headers or {})})
    return response.status_code, json.loads(response.body or b"null")


def signup(client, username, password=PASSWORD, email=None):
    return post(client, "/auth/signup",
                {"username": username, "email": email or f"{username.lower()}@example.com",
                 "password": password})


def test_signup_login_and_refresh(client):
    assert signup(client, "Carol") == (201, {"username": "carol", "confirmed": True})
    status, tokens = post(client, "/auth/login", {"username": "CAROL", "password": PASSWORD})
    assert status == 200
    assert set(tokens) >= {"id_token", "access_token", "refresh_token", "expires_in"}
    status, refreshed = post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 200
    assert {"id_token", "access_token"} <= set(refreshed)
    me = client.http.get("/users/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert json.loads(me.body)["username"] == "carol"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "me", "email": "me@example.com", "password": PASSWORD}, 400),
        ({"username": "ab", "email": "ab@example.com", "password": PASSWORD}, 400),
        ({"username": "x" * 33, "email": "x@example.com", "password": PASSWORD}, 400),
        ({"username": "bad name", "email": "b@example.com", "password": PASSWORD}, 400),
        ({"username": "dave", "email": "not-an-email", "password": PASSWORD}, 400),
        ({"username": "dave", "email": "d@example.com", "password": "short"}, 400),
        ({"username": "dave", "email": "d@example.com"}, 400),
        ({"username": 5, "email": "d@example.com", "password": PASSWORD}, 400),
        ({"username": "dave", "email": "d@example.com", "password": PASSWORD, "admin": True}, 400),
    ],
)
def test_bad_signups_are_400(client, body, status):
    assert post(client, "/auth/signup", body)[0] == status


def test_a_taken_username_is_409_whatever_its_case(client):
    assert signup(client, "erin")[0] == 201
    assert signup(client, "ERIN")[0] == 409


def test_failed_logins_are_one_401_that_says_nothing_more(client):
    signup(client, "frank")
    wrong_password = post(client, "/auth/login", {"username": "frank", "password": "Wrong-Pass-1"})
    unknown_user = post(client, "/auth/login", {"username": "nobody", "password": PASSWORD})
    assert wrong_password[0] == unknown_user[0] == 401
    assert wrong_password[1] == unknown_user[1]
    assert post(client, "/auth/refresh", {"refresh_token": "garbage"})[0] == 401


PROTECTED = [
    ("GET", "/images"), ("POST", "/uploads"), ("GET", "/images/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ("PATCH", "/images/01ARZ3NDEKTSV4RRFFQ69G5FAV"), ("DELETE", "/images/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ("GET", "/users/me"), ("PUT", "/users/me"), ("DELETE", "/users/me"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_routes_need_a_token(client, stack, method, path):
    response = client.http.request(method, path, body=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert json.loads(response.body)["Code"] == "UnauthorizedError"


def test_forged_and_expired_tokens_are_401(client, stack, alice):
    pool = Pool("us-east-1", stack.outputs["UserPoolId"], stack.outputs["UserPoolClientId"])
    good = claims_for(pool, "alice")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = other_key.public_key()
    tokens = {
        "valid": sign(good),
        "expired": sign({**good, "exp": int(time.time()) - 10, "iat": int(time.time()) - 3700}),
        "wrong key": sign(good, key=other_key),
        "wrong audience": sign({**good, "aud": "someone-else"}),
        "wrong issuer": sign({**good, "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}),
        "wrong use": sign({**good, "token_use": "refresh"}),
        "alg none": _unsigned(good),
        "hs256": _hs256_with_public_key(good, public_pem),
    }
    answers = {name: client.http.get("/images", headers={"Authorization": f"Bearer {token}"}).status_code
               for name, token in tokens.items()}
    assert answers.pop("valid") == 200
    assert set(answers.values()) == {401}, answers


def _unsigned(claims):
    import base64

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'dummy'})}.{part(claims)}."


def _hs256_with_public_key(claims, public_key):
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "dummy"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def test_public_photos_reach_the_feed_and_wall_without_gps_or_original(client, stack, alice, bob):
    alice_gallery, bob_gallery = Gallery(client, stack, alice), Gallery(client, stack, bob)
    private = alice_gallery.upload_ready(JPEG)
    public_old = alice_gallery.upload_ready(jpeg_variant("DSCN0010.jpg", 1))
    public_new = bob_gallery.upload_ready(photo_bytes("Landscape_1.jpg"))
    for gallery, photo in ((alice_gallery, public_old), (bob_gallery, public_new)):
        answer = gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "public"})
        assert answer.body["visibility"] == "public"
    feed = json.loads(client.http.get("/feed").body)
    assert [p["id"] for p in feed["items"]] == [public_new["id"], public_old["id"]]
    for item in feed["items"]:
        assert set(item["urls"]) == {"thumbnail", "preview"}
        assert "gps" not in item and "filename" not in item and "sha256" not in item
    wall = json.loads(client.http.get("/users/alice/images").body)
    assert [p["id"] for p in wall["items"]] == [public_old["id"]]
    assert private["id"] not in json.dumps(feed) + json.dumps(wall)
    profile = json.loads(client.http.get("/users/ALICE").body)
    assert profile == {"username": "alice", "display_name": "alice", "bio": "", "photo_count": 1}
    # A public photo is still owner-only under /images.
    assert bob_gallery.get(public_old["id"]).status == 404


def test_feed_pages_and_refuses_a_tampered_cursor(client, stack, alice):
    gallery = Gallery(client, stack, alice)
    for n in range(3):
        photo = gallery.upload_ready(jpeg_variant("DSCN0010.jpg", n))
        gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "public"})
    first = json.loads(client.http.get("/feed?limit=2").body)
    assert len(first["items"]) == 2
    second = json.loads(client.http.get("/feed?limit=2&cursor=" + first["next_cursor"]).body)
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    cursor = first["next_cursor"]
    # Change a character of the payload (the last one of a base64 run may carry only padding bits).
    tampered = cursor[:5] + ("B" if cursor[5] != "B" else "C") + cursor[6:]
    assert client.http.get("/feed?cursor=" + tampered).status_code == 400
    wall_cursor = json.loads(client.http.get("/users/alice/images?limit=1").body)["next_cursor"]
    assert client.http.get("/feed?cursor=" + wall_cursor).status_code == 400


def test_making_a_photo_private_again_removes_it_from_the_feed(client, stack, alice):
    gallery = Gallery(client, stack, alice)
    photo = gallery.upload_ready(JPEG)
    gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "public"})
    gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "private"})
    assert json.loads(client.http.get("/feed").body)["items"] == []
    assert gallery.request("PATCH", f"/images/{photo['id']}", {"visibility": "everyone"}).status == 400


def test_unknown_users_are_404(client, stack):
    assert client.http.get("/users/nobody").status_code == 404
    assert client.http.get("/users/nobody/images").status_code == 404
    assert client.http.get("/users/..%2F..").status_code == 404


def test_profile_edit(client, stack, alice):
    gallery = Gallery(client, stack, alice)
    answer = gallery.request("PUT", "/users/me", {"display_name": "Alice A.", "bio": "Hello\nworld"})
    assert answer.status == 200
    assert answer.body == {"username": "alice", "display_name": "Alice A.", "bio": "Hello\nworld"}
    assert gallery.request("PUT", "/users/me", {"display_name": "x" * 101}).status == 400
    assert gallery.request("PUT", "/users/me", {"bio": "b" * 1001}).status == 400
    assert gallery.request("PUT", "/users/me", {"email": "x@example.com"}).status == 400
    assert json.loads(client.http.get("/users/alice").body)["display_name"] == "Alice A."


def test_deleting_an_account_leaves_nothing_and_its_tokens_stop_working(client, stack, alice, bob):
    gallery = Gallery(client, stack, alice)
    photos = [gallery.upload_ready(jpeg_variant("DSCN0010.jpg", n), query="?title=Harbour") for n in range(2)]
    gallery.upload(JPEG)  # still processing
    album = gallery.request("POST", "/albums", {"title": "Family"}).body["id"]
    gallery.request("POST", f"/albums/{album}/images", {"image_ids": [p["id"] for p in photos]})
    links = [
        gallery.request("POST", "/shares", body).body["token"]
        for body in ({"album_id": album}, {"image_id": photos[0]["id"]})
    ]
    Gallery(client, stack, bob).upload_ready(JPEG)
    assert gallery.request("DELETE", "/users/me").status == 204
    assert gallery.list().status == 401
    assert [client.http.get(f"/shares/{token}/content").status_code for token in links] == [404, 404]
    assert [k for k in stack.objects() if "/alice/" in k] == []
    # No item of hers anywhere: records, albums and their entries, terms, hash claims, share links.
    assert [i for i in stack.items() if "alice" in json.dumps(i, default=str)] == []
    assert len(stack.objects("originals/bob/")) == 1
    assert post(client, "/auth/login", {"username": "alice", "password": PASSWORD})[0] == 401
    # The name can be taken again, and the old account's tokens do not open the new one.
    time.sleep(1.1)
    assert signup(client, "alice")[0] == 201
    assert gallery.list().status == 401


def test_a_large_account_is_emptied_through_the_work_queue(client, stack, alice, monkeypatch):
    from chalicelib import users

    monkeypatch.setattr(users, "INLINE_PURGE_LIMIT", 1)
    monkeypatch.setattr(users.UserService, "purge_photos",
                        _small_batches(users.UserService.purge_photos))
    gallery = Gallery(client, stack, alice)
    for n in range(3):
        gallery.upload_ready(jpeg_variant("DSCN0010.jpg", n))
    assert gallery.request("DELETE", "/users/me").status == 204
    queue_url = stack.outputs["WorkQueueUrl"]
    for _ in range(5):
        messages = stack.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            break
        stack.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        event = client.events.generate_sqs_event(message_bodies=[messages[0]["Body"]],
                                                 queue_name=stack.outputs["WorkQueueName"])
        client.lambda_.invoke("handle_work", event)
    assert stack.objects() == []
    assert [i for i in stack.items() if i["PK"] == "USER#alice"] == []


def _small_batches(purge):
    def purge_in_twos(self, username, *, batch=50):
        return purge(self, username, batch=2)

    return purge_in_twos
