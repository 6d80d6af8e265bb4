"""Realtime through supabase-py's async client: postgres_changes delivered for inserts,
updates and deletes (with a server-side filter and RLS-scoped delivery), and broadcast
between two clients."""

import asyncio
import uuid

from realtime import RealtimeSubscribeStates


async def until(pred, seconds: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


async def subscribed(channel) -> None:
    states = []
    await channel.subscribe(lambda state, err: states.append((state, err)))
    assert states and states[-1][0] == RealtimeSubscribeStates.SUBSCRIBED, states


async def cdc_ready(channel, seen: list) -> None:
    """Waits for the system message that says changes flow from now on."""
    assert await until(lambda: any(m.extension == "postgres_changes" and m.status == "ok" for m in seen)), seen


async def test_postgres_changes(basalt):
    c = await basalt.aclient()
    everything, filtered, listed, system = [], [], [], []
    ch = (
        c.channel("py-events")
        .on_postgres_changes("*", schema="public", table="events", callback=everything.append)
        .on_postgres_changes("UPDATE", schema="public", table="events", filter="kind=eq.big", callback=filtered.append)
        .on_postgres_changes("INSERT", schema="public", table="events", filter="kind=in.(tiny,small),payload=not.is.null",
                             callback=listed.append)
        .on_system(system.append)
    )
    await subscribed(ch)
    await cdc_ready(ch, system)

    svc = await basalt.aclient(basalt.service_key)
    ins = await svc.table("events").insert({"kind": "small", "payload": {"n": 1}}).execute()
    row_id = ins.data[0]["id"]
    others = await svc.table("events").insert([{"kind": "tiny"}, {"kind": "huge", "payload": {"n": 0}}]).execute()
    other_ids = [r["id"] for r in others.data]
    await svc.table("events").update({"kind": "big"}).eq("id", row_id).execute()
    await svc.table("events").update({"payload": {"n": 2}}).eq("id", row_id).execute()
    await svc.table("events").delete().eq("id", row_id).execute()

    await svc.table("events").delete().in_("id", other_ids).execute()

    assert await until(lambda: len(everything) >= 8), everything
    kinds = [(p["data"]["type"], p["data"].get("record", {}).get("kind")) for p in everything]
    assert kinds == [("INSERT", "small"), ("INSERT", "tiny"), ("INSERT", "huge"), ("UPDATE", "big"), ("UPDATE", "big"),
                     ("DELETE", None), ("DELETE", None), ("DELETE", None)]
    everything = [p for p in everything if p["data"].get("record", p["data"].get("old_record"))["id"] == row_id]
    assert [p["data"]["record"]["kind"] for p in listed] == ["small"]
    first = everything[0]["data"]
    assert first["schema"] == "public" and first["table"] == "events"
    assert first["record"]["id"] == row_id and first["record"]["payload"] == {"n": 1}
    assert everything[3]["data"]["old_record"] == {"id": row_id}
    assert [p["data"]["record"]["payload"] for p in filtered] == [{"n": 1}, {"n": 2}]
    await c.remove_all_channels()


async def test_postgres_changes_respect_rls(basalt):
    alice = await basalt.aclient()
    bob = await basalt.aclient()
    a = (await alice.auth.sign_up({"email": f"rt-a-{uuid.uuid4().hex[:8]}@example.com", "password": "realtime a"})).user
    b = (await bob.auth.sign_up({"email": f"rt-b-{uuid.uuid4().hex[:8]}@example.com", "password": "realtime b"})).user
    await asyncio.sleep(0.1)  # the auth listener hands the new token to realtime in a task
    got_a, got_b, sys_a, sys_b = [], [], [], []
    cha = alice.channel("py-notes-a").on_postgres_changes("INSERT", schema="public", table="notes", callback=got_a.append).on_system(sys_a.append)
    chb = bob.channel("py-notes-b").on_postgres_changes("INSERT", schema="public", table="notes", callback=got_b.append).on_system(sys_b.append)
    await subscribed(cha)
    await subscribed(chb)
    await cdc_ready(cha, sys_a)
    await cdc_ready(chb, sys_b)

    try:
        await alice.table("notes").insert({"body": "for alice"}).execute()
        await bob.table("notes").insert({"body": "for bob"}).execute()
        assert await until(lambda: got_a and got_b)
        await asyncio.sleep(0.5)
        assert [p["data"]["record"]["body"] for p in got_a] == ["for alice"]
        assert [p["data"]["record"]["body"] for p in got_b] == ["for bob"]
        assert got_a[0]["data"]["record"]["owner"] == a.id
        assert got_b[0]["data"]["record"]["owner"] == b.id
    finally:
        await alice.remove_all_channels()
        await bob.remove_all_channels()


async def test_broadcast(basalt):
    c1 = await basalt.aclient()
    c2 = await basalt.aclient()
    got1, got2 = [], []
    ch1 = c1.channel("py-room", {"config": {"broadcast": {"self": True, "ack": True}}}).on_broadcast("cursor", got1.append)
    ch2 = c2.channel("py-room").on_broadcast("cursor", got2.append)
    await subscribed(ch1)
    await subscribed(ch2)
    await ch1.send_broadcast("cursor", {"x": 1})
    await ch2.send_broadcast("cursor", {"x": 2})
    assert await until(lambda: len(got1) == 2 and len(got2) == 1), (got1, got2)
    assert sorted(m["payload"]["x"] for m in got1) == [1, 2]
    assert got2[0]["payload"] == {"x": 1} and got2[0]["event"] == "cursor"

    # the REST broadcast endpoint reaches subscribers too
    await ch2.http_send("cursor", {"x": 3})
    assert await until(lambda: any(m["payload"] == {"x": 3} for m in got1))
    await c1.remove_all_channels()
    await c2.remove_all_channels()
