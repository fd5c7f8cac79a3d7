"""Albums, share links, trash, favourites, search and duplicates, with real tokens and photos."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from conftest import jpeg_variant, photo_bytes
from gallery_client import Gallery

from chalicelib import shares

NIKON = photo_bytes("DSCN0010.jpg")  # NIKON COOLPIX P6000, 2008-10-22, GPS
CANON = photo_bytes("Canon_40D.jpg")  # Canon EOS 40D, 2008-05-30
PLAIN = photo_bytes("Landscape_1.jpg")  # no EXIF date


@pytest.fixture
def three(gallery):
    """Three ready photos of Alice's, by name."""
    return {
        "nikon": gallery.upload_ready(NIKON, query="?title=Harbour%20at%20dusk"),
        "canon": gallery.upload_ready(CANON, query="?title=Iguana&description=Caf%C3%A9%20garden"),
        "plain": gallery.upload_ready(PLAIN, query="?title=Lake"),
    }


def ids_of(answer):
    return [item["id"] for item in answer.body["items"]]


def test_albums_keep_photos_by_date_taken_unless_ordered(gallery, three):
    album = gallery.request("POST", "/albums", {"title": "Trip", "description": "2008"})
    assert album.status == 201
    album_id = album.body["id"]
    ids = [three["plain"]["id"], three["nikon"]["id"], three["canon"]["id"]]
    added = gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": ids})
    assert added.status == 200
    again = gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": ids[:1]})
    assert again.status == 200  # idempotent
    view = gallery.request("GET", f"/albums/{album_id}")
    # By taken_at (photos without EXIF fall back to their upload time, i.e. now).
    assert ids_of(view) == [three["canon"]["id"], three["nikon"]["id"], three["plain"]["id"]]
    order = [three["plain"]["id"], three["canon"]["id"], three["nikon"]["id"]]
    patched = gallery.request(
        "PATCH",
        f"/albums/{album_id}",
        {"order": order, "cover_image_id": three["plain"]["id"], "title": "Trip!"},
    )
    assert patched.status == 200 and patched.body["title"] == "Trip!"
    assert ids_of(gallery.request("GET", f"/albums/{album_id}")) == order
    page = gallery.request("GET", f"/albums/{album_id}?limit=2")
    rest = gallery.request("GET", f"/albums/{album_id}?limit=2&cursor={page.body['next_cursor']}")
    assert ids_of(page) + ids_of(rest) == order and rest.body["next_cursor"] is None
    listing = gallery.request("GET", "/albums")
    assert [a["id"] for a in listing.body["items"]] == [album_id]


def test_albums_list_their_count_and_cover_and_photos_in_the_trash_count_for_neither(gallery, three):
    album_id = gallery.request("POST", "/albums", {"title": "Trip"}).body["id"]
    empty = gallery.request("GET", "/albums").body["items"][0]
    assert (empty["count"], empty["cover"]) == (0, None)
    ids = [three["plain"]["id"], three["nikon"]["id"], three["canon"]["id"]]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": ids})

    def summary():
        listed = gallery.request("GET", "/albums").body["items"][0]
        opened = gallery.request("GET", f"/albums/{album_id}").body
        assert (opened["count"], opened["cover"] and opened["cover"]["id"]) == (
            listed["count"],
            listed["cover"] and listed["cover"]["id"],
        )
        return listed["count"], listed["cover"]

    count, cover = summary()
    # No cover chosen: the album's first photo (by date taken, the Canon of May 2008), with what a
    # grid needs to paint it at once.
    assert count == 3 and cover["id"] == three["canon"]["id"]
    assert cover["placeholder"] and cover["urls"]["thumbnail"].startswith("http")

    gallery.request("POST", f"/images/{three['canon']['id']}/trash")
    assert summary()[0] == 2 and summary()[1]["id"] == three["nikon"]["id"]
    chosen = gallery.request("PATCH", f"/albums/{album_id}", {"cover_image_id": three["plain"]["id"]})
    assert (chosen.body["count"], chosen.body["cover"]["id"]) == (2, three["plain"]["id"])
    gallery.request("POST", f"/images/{three['plain']['id']}/trash")  # the chosen cover goes too
    assert summary()[0] == 1 and summary()[1]["id"] == three["nikon"]["id"]

    gallery.request("POST", f"/images/{three['plain']['id']}/restore")
    gallery.request("POST", f"/images/{three['canon']['id']}/restore")
    assert summary()[0] == 3 and summary()[1]["id"] == three["plain"]["id"]  # the choice holds
    gallery.request("DELETE", f"/images/{three['plain']['id']}")
    assert summary()[0] == 2 and summary()[1]["id"] == three["canon"]["id"]
    order = [three["nikon"]["id"], three["canon"]["id"]]
    gallery.request("PATCH", f"/albums/{album_id}", {"order": order, "cover_image_id": None})
    assert summary()[1]["id"] == three["nikon"]["id"]  # a manual order puts its first photo first


def test_album_edits_are_validated(gallery, three):
    album_id = gallery.request("POST", "/albums", {"title": "A"}).body["id"]
    outsider = three["nikon"]["id"]
    for body in (
        {"order": [outsider]},
        {"cover_image_id": outsider},
        {"title": ""},
        {"order": "x"},
        {"colour": "red"},
    ):
        assert gallery.request("PATCH", f"/albums/{album_id}", body).status == 400, body
    assert gallery.request("POST", "/albums", {"description": "no title"}).status == 400
    assert gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": []}).status == 400
    assert gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": ["x"] * 101}).status == 400


def test_only_my_own_photos_go_into_my_albums(gallery, client, stack, bob, three):
    bobs = Gallery(client, stack, bob)
    bob_photo = bobs.upload_ready(jpeg_variant("Landscape_1.jpg", 9))
    album_id = gallery.request("POST", "/albums", {"title": "Mine"}).body["id"]
    answer = gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [bob_photo["id"]]})
    assert answer.status == 404
    # And Bob cannot see, change or fill Alice's album.
    assert bobs.request("GET", f"/albums/{album_id}").status == 404
    assert bobs.request("POST", f"/albums/{album_id}/images", {"image_ids": [bob_photo["id"]]}).status == 404
    assert bobs.request("DELETE", f"/albums/{album_id}").status == 404


def test_deleting_a_photo_removes_it_from_every_album_and_deleting_an_album_keeps_photos(
    gallery, stack, three
):
    first = gallery.request("POST", "/albums", {"title": "One"}).body["id"]
    second = gallery.request("POST", "/albums", {"title": "Two"}).body["id"]
    for album_id in (first, second):
        gallery.request(
            "POST", f"/albums/{album_id}/images", {"image_ids": [three["nikon"]["id"], three["canon"]["id"]]}
        )
    assert gallery.request("DELETE", f"/images/{three['nikon']['id']}").status == 204
    for album_id in (first, second):
        assert ids_of(gallery.request("GET", f"/albums/{album_id}")) == [three["canon"]["id"]]
    assert not [i for i in stack.items() if three["nikon"]["id"] in json.dumps(i, default=str)]
    assert gallery.request("DELETE", f"/albums/{first}").status == 204
    assert gallery.request("GET", f"/albums/{first}").status == 404
    assert gallery.get(three["canon"]["id"]).status == 200
    assert gallery.request("DELETE", f"/albums/{second}/images/{three['canon']['id']}").status == 204
    assert ids_of(gallery.request("GET", f"/albums/{second}")) == []


def anonymous(client, token, password=None):
    headers = {"X-Share-Password": password} if password is not None else {}
    response = client.http.get(f"/shares/{token}/content", headers=headers)
    return response.status_code, json.loads(response.body or b"null")


def test_an_album_share_link_opens_the_album_without_signing_in(gallery, client, three, stack):
    album_id = gallery.request("POST", "/albums", {"title": "Family"}).body["id"]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [three["nikon"]["id"]]})
    created = gallery.request("POST", "/shares", {"album_id": album_id})
    assert created.status == 201
    token = created.body["token"]
    assert len(token) >= 22 and created.body["url"].endswith(f"/s/{token}")
    status, content = anonymous(client, token)
    assert status == 200
    assert content["album"]["title"] == "Family"
    assert [p["id"] for p in content["items"]] == [three["nikon"]["id"]]
    shared = content["items"][0]
    assert set(shared["urls"]) == {"thumbnail", "preview"}  # no download unless allowed
    assert "gps" not in json.dumps(content) and "owner" not in shared
    assert three["canon"]["id"] not in json.dumps(content)
    # Only the token's hash is stored.
    assert token not in json.dumps(stack.items(), default=str)
    assert hashlib.sha256(token.encode()).hexdigest() in json.dumps(stack.items(), default=str)
    # The UI page for it is served.
    assert client.http.get(f"/s/{token}").status_code == 200


def test_deleting_a_photo_or_an_album_revokes_its_share_links(gallery, client, three):
    album_id = gallery.request("POST", "/albums", {"title": "Family"}).body["id"]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [three["nikon"]["id"]]})
    album_token = gallery.request("POST", "/shares", {"album_id": album_id}).body["token"]
    photo_token = gallery.request("POST", "/shares", {"image_id": three["canon"]["id"]}).body["token"]
    kept_token = gallery.request("POST", "/shares", {"image_id": three["plain"]["id"]}).body["token"]
    assert len(gallery.request("GET", "/shares").body["items"]) == 3
    assert gallery.request("DELETE", f"/albums/{album_id}").status == 204
    assert gallery.request("DELETE", f"/images/{three['canon']['id']}").status == 204
    assert anonymous(client, album_token)[0] == 404 and anonymous(client, photo_token)[0] == 404
    assert anonymous(client, kept_token)[0] == 200
    assert [s["image_id"] for s in gallery.request("GET", "/shares").body["items"]] == [three["plain"]["id"]]


def test_a_photo_share_with_password_and_download(gallery, client, three, monkeypatch):
    monkeypatch.setattr(shares, "WRONG_PASSWORD_DELAY", 0)
    created = gallery.request(
        "POST",
        "/shares",
        {"image_id": three["canon"]["id"], "password": "s3cret!", "allow_download": True, "expires_in": 3600},
    )
    token = created.body["token"]
    assert anonymous(client, token)[0] == 401
    assert anonymous(client, token, "wrong")[0] == 401
    status, content = anonymous(client, token, "s3cret!")
    assert status == 200
    download = content["items"][0]["urls"]["download"]
    assert gallery.fetch(download).content == CANON


def test_expired_revoked_and_unknown_links_are_all_the_same_404(gallery, client, three, monkeypatch):
    first = gallery.request("POST", "/shares", {"image_id": three["plain"]["id"], "expires_in": 60}).body
    second = gallery.request("POST", "/shares", {"image_id": three["plain"]["id"]}).body
    listed = gallery.request("GET", "/shares").body["items"]
    assert {s["id"] for s in listed} == {first["id"], second["id"]}
    assert gallery.request("DELETE", f"/shares/{second['token']}").status == 204
    assert gallery.request("DELETE", f"/shares/{second['id']}").status == 404
    unknown = anonymous(client, "A" * 43)
    assert anonymous(client, second["token"]) == unknown
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    assert anonymous(client, first["token"]) == unknown
    assert unknown[0] == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"album_id": "x", "image_id": "y"},
        {"image_id": 5},
        {"image_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"image_id": "ID", "expires_in": 31536001},
        {"image_id": "ID", "expires_in": 0},
        {"image_id": "ID", "password": ""},
        {"image_id": "ID", "allow_download": "yes"},
    ],
)
def test_bad_share_requests_are_refused(gallery, three, body):
    body = {k: (three["plain"]["id"] if v == "ID" else v) for k, v in body.items()}
    assert gallery.request("POST", "/shares", body).status in (400, 404)


def test_trash_hides_a_photo_everywhere_and_restore_brings_it_back(gallery, client, three):
    photo_id = three["nikon"]["id"]
    album_id = gallery.request("POST", "/albums", {"title": "A"}).body["id"]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [photo_id]})
    gallery.request("PATCH", f"/images/{photo_id}", {"visibility": "public"})
    token = gallery.request("POST", "/shares", {"image_id": photo_id}).body["token"]
    trashed = gallery.request("POST", f"/images/{photo_id}/trash")
    assert trashed.status == 200 and trashed.body["deletes_at"] > trashed.body["trashed_at"]
    assert photo_id not in ids_of(gallery.list())
    assert ids_of(gallery.request("GET", f"/albums/{album_id}")) == []
    assert json.loads(client.http.get("/feed").body)["items"] == []
    assert anonymous(client, token)[0] == 404
    assert ids_of(gallery.request("GET", "/trash")) == [photo_id]
    restored = gallery.request("POST", f"/images/{photo_id}/restore")
    assert restored.status == 200 and "trashed_at" not in restored.body
    assert photo_id in ids_of(gallery.list())
    assert ids_of(gallery.request("GET", f"/albums/{album_id}")) == [photo_id]
    assert [p["id"] for p in json.loads(client.http.get("/feed").body)["items"]] == [photo_id]
    assert anonymous(client, token)[0] == 200


def test_trashed_objects_are_tagged_for_the_lifecycle_backstop(gallery, stack, three):
    photo_id = three["plain"]["id"]
    gallery.request("POST", f"/images/{photo_id}/trash")
    key = f"originals/alice/{photo_id}"
    tags = stack.s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "gallery-trashed", "Value": "true"}]
    gallery.request("POST", f"/images/{photo_id}/restore")
    assert stack.s3.get_object_tagging(Bucket=stack.bucket, Key=key)["TagSet"] == []


def test_emptying_the_trash_deletes_for_good(gallery, stack, three):
    gallery.request("POST", f"/images/{three['plain']['id']}/trash")
    assert gallery.request("DELETE", "/trash").body == {"deleted": 1}
    assert gallery.get(three["plain"]["id"]).status == 404
    assert not [k for k in stack.objects() if three["plain"]["id"] in k]


def test_the_schedule_purges_trash_after_trash_days(gallery, client, stack, three, monkeypatch):
    gallery.request("POST", f"/images/{three['plain']['id']}/trash")
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("purge_trash", event)
    assert ids_of(gallery.request("GET", "/trash")) == [three["plain"]["id"]]  # not yet due
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 30 * 86400 + 1)
    client.lambda_.invoke("purge_trash", event)
    assert gallery.request("GET", "/trash").body["items"] == []
    assert not [k for k in stack.objects() if three["plain"]["id"] in k]
    assert len(ids_of(gallery.list())) == 2


def test_uploading_a_photo_i_already_have_answers_the_existing_one(gallery, three):
    again = gallery.upload(NIKON)
    assert again.status == 200
    assert again.body["duplicate"] is True and again.body["id"] == three["nikon"]["id"]
    ahead = gallery.request(
        "POST",
        "/uploads",
        {
            "filename": "n.jpg",
            "content_type": "image/jpeg",
            "size": len(CANON),
            "sha256": hashlib.sha256(CANON).hexdigest(),
        },
    )
    assert (
        ahead.status == 200 and ahead.body["duplicate"] is True and ahead.body["id"] == three["canon"]["id"]
    )
    bad = gallery.request(
        "POST", "/uploads", {"filename": "n.jpg", "content_type": "image/jpeg", "size": 5, "sha256": "xyz"}
    )
    assert bad.status == 400


def test_a_direct_upload_found_to_be_a_duplicate_is_folded(gallery, stack, three):
    started = gallery.request(
        "POST", "/uploads", {"filename": "n.jpg", "content_type": "image/jpeg", "size": len(PLAIN)}
    )
    key = f"uploads/alice/{started.body['id']}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=PLAIN)
    gallery.deliver(key)
    answer = gallery.get(started.body["id"])
    assert answer.body == {
        "id": started.body["id"],
        "status": "duplicate",
        "duplicate_of": three["plain"]["id"],
    }
    assert stack.objects("uploads/") == []
    assert ids_of(gallery.list()).count(three["plain"]["id"]) == 1
    assert len(ids_of(gallery.list())) == 3


def test_uploading_a_trashed_photo_restores_it(gallery, three):
    gallery.request("POST", f"/images/{three['canon']['id']}/trash")
    again = gallery.upload(CANON)
    assert again.status == 200 and again.body["id"] == three["canon"]["id"]
    assert three["canon"]["id"] in ids_of(gallery.list())


def test_a_direct_upload_of_a_trashed_photo_restores_it_into_its_albums(gallery, stack, three):
    album_id = gallery.request("POST", "/albums", {"title": "Zoo"}).body["id"]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [three["canon"]["id"]]})
    gallery.request("POST", f"/images/{three['canon']['id']}/trash")
    assert gallery.request("GET", f"/albums/{album_id}").body["count"] == 0
    started = gallery.request(
        "POST", "/uploads", {"filename": "c.jpg", "content_type": "image/jpeg", "size": len(CANON)}
    )
    key = f"uploads/alice/{started.body['id']}"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=CANON)
    gallery.deliver(key)  # the thumbnail handler finds the bytes in the trash: restored, not copied
    assert gallery.get(started.body["id"]).body["duplicate_of"] == three["canon"]["id"]
    album = gallery.request("GET", f"/albums/{album_id}")
    assert (album.body["count"], ids_of(album)) == (1, [three["canon"]["id"]])
    assert "trashed_at" not in gallery.get(three["canon"]["id"]).body


def test_favourites(gallery, three):
    gallery.request("PATCH", f"/images/{three['canon']['id']}", {"favorite": True})
    assert ids_of(gallery.list("?favorite=true")) == [three["canon"]["id"]]
    gallery.request("PATCH", f"/images/{three['canon']['id']}", {"favorite": False})
    assert ids_of(gallery.list("?favorite=true")) == []
    assert gallery.list("?favorite=maybe").status == 400
    assert gallery.request("PATCH", f"/images/{three['canon']['id']}", {"favorite": "yes"}).status == 400


def test_search_by_words_ignores_case_and_accents(gallery, three):
    assert ids_of(gallery.list("?q=HARBOUR")) == [three["nikon"]["id"]]
    assert ids_of(gallery.list("?q=cafe")) == [three["canon"]["id"]]
    assert ids_of(gallery.list("?q=harbour%20dusk")) == [three["nikon"]["id"]]
    assert ids_of(gallery.list("?q=harbour%20lake")) == []
    gallery.request("PATCH", f"/images/{three['nikon']['id']}", {"title": "Boats"})
    assert ids_of(gallery.list("?q=harbour")) == []
    assert ids_of(gallery.list("?q=boats")) == [three["nikon"]["id"]]


def test_search_by_date_camera_tag_and_album_combined(gallery, three):
    assert ids_of(gallery.list("?taken_from=2008-10-01&taken_to=2008-10-31")) == [three["nikon"]["id"]]
    assert set(ids_of(gallery.list("?taken_from=2008-01-01&taken_to=2008-12-31"))) == {
        three["nikon"]["id"],
        three["canon"]["id"],
    }
    assert ids_of(gallery.list("?camera=COOLPIX%20P6000")) == [three["nikon"]["id"]]
    assert ids_of(gallery.list("?camera=canon%20eos%2040d")) == [three["canon"]["id"]]
    gallery.request("PATCH", f"/images/{three['plain']['id']}", {"tags": ["Summer", "water"]})
    gallery.request("PATCH", f"/images/{three['nikon']['id']}", {"tags": ["summer"]})
    assert set(ids_of(gallery.list("?tag=summer"))) == {three["plain"]["id"], three["nikon"]["id"]}
    album_id = gallery.request("POST", "/albums", {"title": "A"}).body["id"]
    gallery.request("POST", f"/albums/{album_id}/images", {"image_ids": [three["nikon"]["id"]]})
    assert ids_of(gallery.list(f"?tag=summer&album={album_id}")) == [three["nikon"]["id"]]
    assert ids_of(gallery.list("?tag=summer&taken_from=2008-01-01&taken_to=2008-12-31")) == [
        three["nikon"]["id"]
    ]
    assert gallery.list("?taken_from=yesterday").status == 400
    assert gallery.list("?album=01ARZ3NDEKTSV4RRFFQ69G5FAV").status == 404


def test_search_pages_with_a_cursor(gallery):
    photos = [gallery.upload_ready(jpeg_variant("Landscape_1.jpg", n), query="?title=pier") for n in range(3)]
    first = gallery.list("?q=pier&limit=2")
    second = gallery.list(f"?q=pier&limit=2&cursor={first.body['next_cursor']}")
    assert ids_of(first) + ids_of(second) == [p["id"] for p in reversed(photos)]
    assert second.body["next_cursor"] is None
    assert gallery.list(f"?q=other&cursor={first.body['next_cursor']}").status == 400
