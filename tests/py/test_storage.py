"""Storage through supabase-py: buckets, uploads (multipart with cache control, content type,
metadata, upsert), download, list, info/exists, signed URLs, move and remove, and object
policies seen by a signed-in user."""

import uuid

import httpx
import pytest
from storage3.exceptions import StorageApiError


def test_buckets_and_objects(basalt):
    s = basalt.client(basalt.service_key).storage
    created = s.create_bucket("py-docs", options={"public": False, "file_size_limit": 1024 * 1024})
    assert created == {"name": "py-docs"}
    assert "py-docs" in [b.id for b in s.list_buckets()]
    bucket = s.get_bucket("py-docs")
    assert bucket.public is False and bucket.file_size_limit == 1024 * 1024

    with pytest.raises(StorageApiError) as err:
        s.create_bucket("py-docs")
    assert str(err.value.status) == "409"

    f = s.from_("py-docs")
    up = f.upload("reports/2026/q1.txt", b"first quarter", {"content-type": "text/plain", "cache-control": "60",
                                                            "metadata": {"owner": "finance"}})
    assert up.path == "reports/2026/q1.txt"
    assert up.full_path == "py-docs/reports/2026/q1.txt"
    f.upload("reports/2026/q2.txt", b"second quarter!", {"content-type": "text/plain"})
    f.upload("readme.md", b"# docs", {"content-type": "text/markdown"})

    assert f.download("reports/2026/q1.txt") == b"first quarter"

    with pytest.raises(StorageApiError) as err:
        f.upload("readme.md", b"again")
    assert str(err.value.status) == "409"
    f.upload("readme.md", b"# docs v2", {"upsert": "true", "content-type": "text/markdown"})
    assert f.download("readme.md") == b"# docs v2"
    f.update("readme.md", b"# docs v3", {"content-type": "text/markdown"})
    assert f.download("readme.md") == b"# docs v3"

    top = f.list()
    assert [(e["name"], e["id"] is None) for e in top] == [("readme.md", False), ("reports", True)]
    files = f.list("reports/2026", {"sortBy": {"column": "name", "order": "desc"}})
    assert [e["name"] for e in files] == ["q2.txt", "q1.txt"]
    assert files[0]["metadata"]["size"] == len(b"second quarter!")
    assert files[0]["metadata"]["mimetype"] == "text/plain"
    assert [e["name"] for e in f.list("reports/2026", {"search": "q1"})] == ["q1.txt"]
    assert [e["name"] for e in f.list("reports/2026", {"limit": 1, "offset": 1, "sortBy": {"column": "name", "order": "asc"}})] == ["q2.txt"]

    info = f.info("reports/2026/q1.txt")
    assert info["size"] == len(b"first quarter")
    assert info["content_type"] == "text/plain"
    assert info["cache_control"] == "max-age=60"
    assert info["metadata"] == {"owner": "finance"}
    assert f.exists("reports/2026/q1.txt") is True
    assert f.exists("reports/2026/nope.txt") is False

    signed = f.create_signed_url("reports/2026/q1.txt", 60)
    r = httpx.get(signed["signedURL"])
    assert r.status_code == 200 and r.content == b"first quarter"
    r = httpx.get(f.create_signed_url("reports/2026/q1.txt", 60, {"download": "q1.txt"})["signedURL"])
    assert r.status_code == 200
    assert r.headers["content-disposition"] == "attachment; filename=q1.txt; filename*=UTF-8''q1.txt"
    many = f.create_signed_urls(["readme.md", "reports/2026/q2.txt"], 60)
    assert [httpx.get(m["signedURL"]).content for m in many] == [b"# docs v3", b"second quarter!"]

    # the bucket is private: no public URL, no anonymous download
    assert httpx.get(f.get_public_url("readme.md")).status_code == 400
    with pytest.raises(StorageApiError):
        basalt.client().storage.from_("py-docs").download("readme.md")

    f.move("reports/2026/q2.txt", "archive/q2.txt")
    assert f.download("archive/q2.txt") == b"second quarter!"
    f.copy("archive/q2.txt", "archive/q2-copy.txt")
    removed = f.remove(["archive/q2.txt", "archive/q2-copy.txt", "reports/2026/q1.txt", "readme.md"])
    assert sorted(o["name"] for o in removed) == ["archive/q2-copy.txt", "archive/q2.txt", "readme.md", "reports/2026/q1.txt"]
    assert f.list() == []

    f.upload("x/1.txt", b"1", {"content-type": "text/plain"})
    f.upload("y.txt", b"2", {"content-type": "text/plain"})
    page = f.list_v2({"prefix": "", "with_delimiter": True})
    # Folders end with the delimiter, as Supabase Storage names them.
    assert [d.name for d in page.folders] == ["x/"]
    assert [o.name for o in page.objects] == ["y.txt"] and page.hasNext is False
    assert s.update_bucket("py-docs", {"public": True, "file_size_limit": 10}) == {"message": "Successfully updated"}
    assert (s.get_bucket("py-docs").public, s.get_bucket("py-docs").file_size_limit) == (True, 10)
    with pytest.raises(StorageApiError) as err:
        f.upload("big.txt", b"more than ten bytes", {"content-type": "text/plain"})
    assert str(err.value.status) == "413"

    assert s.empty_bucket("py-docs") == {"message": "Successfully emptied"}
    assert s.delete_bucket("py-docs") == {"message": "Successfully deleted"}


def test_public_bucket_and_signed_upload(basalt):
    s = basalt.client(basalt.service_key).storage
    s.create_bucket("py-public", options={"public": True, "allowed_mime_types": ["image/png", "text/plain"]})
    f = s.from_("py-public")
    f.upload("hello.txt", b"hi there", {"content-type": "text/plain"})
    r = httpx.get(f.get_public_url("hello.txt"))
    assert r.status_code == 200 and r.content == b"hi there"

    with pytest.raises(StorageApiError) as err:
        f.upload("page.html", b"<p>", {"content-type": "text/html"})
    assert str(err.value.status) == "415"

    ticket = f.create_signed_upload_url("drop/box.txt")
    assert ticket["path"] == "drop/box.txt" and ticket["token"]
    anon_files = basalt.client().storage.from_("py-public")
    anon_files.upload_to_signed_url(ticket["path"], ticket["token"], b"dropped", {"content-type": "text/plain"})
    assert httpx.get(f.get_public_url("drop/box.txt")).content == b"dropped"


def test_object_policies_for_a_signed_in_user(basalt):
    basalt.client(basalt.service_key).storage.create_bucket("py-private")
    c = basalt.client()
    user = c.auth.sign_up({"email": f"st-{uuid.uuid4().hex[:8]}@example.com", "password": "storage pass"}).user
    mine = c.storage.from_("py-private")
    mine.upload(f"{user.id}/avatar.txt", b"me", {"content-type": "text/plain"})
    assert mine.download(f"{user.id}/avatar.txt") == b"me"
    assert [e["name"] for e in mine.list(user.id)] == ["avatar.txt"]
    with pytest.raises(StorageApiError) as err:
        mine.upload("someone-else/avatar.txt", b"not me")
    assert str(err.value.status) == "403"
    # anon sees nothing
    assert basalt.client().storage.from_("py-private").list(user.id) == []


async def test_async_storage(basalt):
    c = await basalt.aclient(basalt.service_key)
    await c.storage.create_bucket("py-async")
    f = c.storage.from_("py-async")
    await f.upload("a/b.bin", bytes(range(256)), {"content-type": "application/octet-stream"})
    assert await f.download("a/b.bin") == bytes(range(256))
    assert [e["name"] for e in await f.list("a")] == ["b.bin"]
    signed = await f.create_signed_url("a/b.bin", 30)
    async with httpx.AsyncClient() as h:
        assert (await h.get(signed["signedURL"])).content == bytes(range(256))
    assert [o["name"] for o in await f.remove(["a/b.bin"])] == ["a/b.bin"]
