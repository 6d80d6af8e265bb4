"""PostgREST through supabase-py: reads with filters, ordering, ranges and counts, single rows,
embedded resources, writes (insert, upsert, update, delete), rpc, and errors as APIError."""

import csv as csv_module
import io

import pytest
from postgrest import APIError
from postgrest.types import CountMethod


def test_select_filters_order_range(anon):
    res = anon.table("books").select("title, year").gte("year", 1969).lt("year", 1990).order("year", desc=True).execute()
    assert [r["title"] for r in res.data] == ["Kindred", "The Dispossessed", "The Left Hand of Darkness"]

    res = anon.table("books").select("id, title").order("id").range(1, 2).execute()
    assert [r["title"] for r in res.data] == ["The Left Hand of Darkness", "The Dispossessed"]

    res = anon.table("books").select("title").ilike("title", "%parable%").execute()
    assert res.data == [{"title": "Parable of the Sower"}]

    res = anon.table("books").select("title").in_("year", [1968, 1993]).order("year").execute()
    assert [r["title"] for r in res.data] == ["A Wizard of Earthsea", "Parable of the Sower"]

    res = anon.table("books").select("title").contains("tags", ["utopia"]).execute()
    assert res.data == [{"title": "The Dispossessed"}]

    res = anon.table("books").select("title").or_("year.eq.1968,title.eq.Kindred").order("year").execute()
    assert [r["title"] for r in res.data] == ["A Wizard of Earthsea", "Kindred"]

    res = anon.table("books").select("title").not_.is_("author_id", "null").eq("author_id", 2).limit(1).order("year").execute()
    assert res.data == [{"title": "Kindred"}]


def test_count_exact(anon):
    res = anon.table("books").select("id", count=CountMethod.exact).eq("author_id", 1).range(0, 0).execute()
    assert res.count == 3
    assert len(res.data) == 1

    head = anon.table("books").select("*", count="exact", head=True).execute()
    assert head.count == 5
    assert head.data == []


def test_single_and_maybe_single(anon):
    one = anon.table("authors").select("name").eq("id", 2).single().execute()
    assert one.data == {"name": "Octavia E. Butler"}

    with pytest.raises(APIError) as err:
        anon.table("authors").select("name").eq("id", 99).single().execute()
    assert err.value.code == "PGRST116"

    none = anon.table("authors").select("name").eq("id", 99).maybe_single().execute()
    assert none is None

    some = anon.table("authors").select("name").eq("id", 1).maybe_single().execute()
    assert some.data == {"name": "Ursula K. Le Guin"}

    with pytest.raises(APIError) as err:
        anon.table("books").select("id").eq("author_id", 1).maybe_single().execute()
    # supabase-py checks the row count of maybe_single itself (it asks for an array)
    assert err.value.code == "406"


def test_embedded_resources(anon):
    res = anon.table("authors").select("name, books(title, year)").eq("id", 2).order("year", foreign_table="books").execute()
    assert res.data == [{"name": "Octavia E. Butler", "books": [
        {"title": "Kindred", "year": 1979}, {"title": "Parable of the Sower", "year": 1993}]}]

    res = anon.table("books").select("title, author:authors(name)").eq("title", "Kindred").single().execute()
    assert res.data == {"title": "Kindred", "author": {"name": "Octavia E. Butler"}}

    # inner join drops authors without books
    res = anon.table("authors").select("name, books!inner(id)").order("id").execute()
    assert [r["name"] for r in res.data] == ["Ursula K. Le Guin", "Octavia E. Butler"]


def test_insert_upsert_update_delete(service):
    ins = service.table("authors").insert([{"id": 10, "name": "Ten"}, {"id": 11, "name": "Eleven"}]).execute()
    assert sorted(r["id"] for r in ins.data) == [10, 11]

    with pytest.raises(APIError) as err:
        service.table("authors").insert({"id": 10, "name": "Again"}).execute()
    assert err.value.code == "23505"

    up = service.table("authors").upsert({"id": 10, "name": "Ten (revised)"}).execute()
    assert up.data == [{"id": 10, "name": "Ten (revised)"}]

    ign = service.table("authors").upsert({"id": 11, "name": "ignored"}, ignore_duplicates=True).execute()
    assert ign.data == []
    assert service.table("authors").select("name").eq("id", 11).single().execute().data == {"name": "Eleven"}

    upd = service.table("authors").update({"name": "Eleven!"}).eq("id", 11).execute()
    assert upd.data == [{"id": 11, "name": "Eleven!"}]

    cnt = service.table("authors").update({"name": "x"}, count="exact").eq("id", 999).execute()
    assert cnt.data == [] and cnt.count == 0

    gone = service.table("authors").delete().in_("id", [10, 11]).execute()
    assert sorted(r["id"] for r in gone.data) == [10, 11]
    assert service.table("authors").select("id").in_("id", [10, 11]).execute().data == []


def test_insert_returning_minimal_and_defaults(service):
    res = service.table("books").insert({"title": "Untitled", "author_id": 3}, returning="minimal").execute()
    assert res.data == []
    row = service.table("books").select("title, tags, year").eq("title", "Untitled").single().execute()
    assert row.data == {"title": "Untitled", "tags": [], "year": None}
    service.table("books").delete().eq("title", "Untitled").execute()


def test_rpc(anon):
    assert anon.rpc("add", {"a": 2, "b": 40}).execute().data == 42
    res = anon.rpc("books_after", {"y": 1975}).select("title").execute()
    assert [r["title"] for r in res.data] == ["Kindred", "Parable of the Sower"]
    res = anon.rpc("books_after", {"y": 1900}, count="exact").lt("year", 1970).execute()
    assert [r["year"] for r in res.data] == [1968, 1969]
    assert anon.rpc("whoami", {}).execute().data == "anon"

    with pytest.raises(APIError) as err:
        anon.rpc("fail_loudly", {}).execute()
    assert err.value.code == "P0001"
    assert err.value.message == "told to fail"
    assert err.value.hint == "do not call it"


def test_errors(anon):
    with pytest.raises(APIError) as err:
        anon.table("no_such_table").select("*").execute()
    assert err.value.code == "PGRST205"

    with pytest.raises(APIError) as err:
        anon.table("books").select("nope").execute()
    assert err.value.code == "42703"


def test_schema_and_csv(anon):
    assert anon.schema("public").table("authors").select("id").eq("id", 3).execute().data == [{"id": 3}]
    csv = anon.table("authors").select("id, name").order("id").limit(2).csv().execute()
    # Values as Postgres writes a row as text: those with spaces quoted; no line end at the end.
    assert csv.data == 'id,name\n1,"Ursula K. Le Guin"\n2,"Octavia E. Butler"'
    rows = list(csv_module.reader(io.StringIO(csv.data)))
    assert rows == [["id", "name"], ["1", "Ursula K. Le Guin"], ["2", "Octavia E. Butler"]]
    assert anon.table("authors").select("id").eq("id", -1).csv().execute().data == "\n"


async def test_async_client(basalt):
    c = await basalt.aclient()
    res = await c.table("books").select("title", count="exact").eq("author_id", 2).order("year").execute()
    assert [r["title"] for r in res.data] == ["Kindred", "Parable of the Sower"]
    assert res.count == 2
    one = await c.table("authors").select("name, books(count)").eq("id", 1).single().execute()
    assert one.data == {"name": "Ursula K. Le Guin", "books": [{"count": 3}]}
    assert (await c.rpc("add", {"a": 1, "b": 1}).execute()).data == 2

    admin = await basalt.aclient(basalt.service_key)
    ins = await admin.table("authors").insert({"id": 20, "name": "Async"}).execute()
    assert ins.data == [{"id": 20, "name": "Async"}]
    await admin.table("authors").delete().eq("id", 20).execute()
    assert (await c.table("authors").select("id").eq("id", 20).execute()).data == []


def test_more_filters_and_embedded_options(anon, service):
    res = anon.table("books").select("title").match({"author_id": 1, "year": 1974}).execute()
    assert res.data == [{"title": "The Dispossessed"}]
    res = anon.table("books").select("title").filter("tags", "cs", "{dystopia}").execute()
    assert res.data == [{"title": "Parable of the Sower"}]
    res = anon.table("books").select("title").text_search("title", "'darkness'").execute()
    assert res.data == [{"title": "The Left Hand of Darkness"}]
    res = anon.table("books").select("title").neq("author_id", 1).order("title").execute()
    assert [r["title"] for r in res.data] == ["Kindred", "Parable of the Sower"]
    res = anon.table("authors").select("name, books!inner(title)").eq("books.year", 1969).execute()
    assert res.data == [{"name": "Ursula K. Le Guin", "books": [{"title": "The Left Hand of Darkness"}]}]
    res = (anon.table("authors").select("id, books(year)").eq("id", 1)
           .order("year", desc=True, foreign_table="books").limit(1, foreign_table="books").execute())
    assert res.data == [{"id": 1, "books": [{"year": 1974}]}]
    res = anon.table("authors").select("id, books(id)").order("id").range(0, 0, foreign_table="books").execute()
    assert [len(r["books"]) for r in res.data] == [1, 1, 0]

    service.table("authors").upsert([{"id": 30, "name": "Thirty"}], on_conflict="id").execute()
    service.table("authors").upsert([{"id": 30, "name": "Thirty again"}, {"id": 31, "name": "Thirty-one"}],
                                    on_conflict="id", default_to_null=False).execute()
    res = service.table("authors").select("id, name").gte("id", 30).order("id").execute()
    assert res.data == [{"id": 30, "name": "Thirty again"}, {"id": 31, "name": "Thirty-one"}]
    res = service.table("authors").delete(count="exact").gte("id", 30).execute()
    assert res.count == 2


def test_anon_cannot_write_without_grants_or_policies(anon):
    with pytest.raises(APIError) as err:
        anon.table("notes").insert({"body": "anon note", "owner": "00000000-0000-0000-0000-000000000000"}).execute()
    assert err.value.code == "42501"
