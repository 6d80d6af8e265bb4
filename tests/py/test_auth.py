"""GoTrue through supabase-py: sign-up and password sign-in, the session's user, refresh,
user updates, sign-out revoking the refresh token, the admin API with the service key, and
RLS seen by a signed-in user, the anon key and the service key."""

import uuid

import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError


def email() -> str:
    return f"py-{uuid.uuid4().hex[:10]}@example.com"


def test_sign_up_sign_in_get_user_refresh_update_sign_out(basalt):
    c = basalt.client()
    addr = email()
    up = c.auth.sign_up({"email": addr, "password": "correct horse", "options": {"data": {"plan": "free"}}})
    assert up.user is not None and up.user.email == addr
    assert up.user.user_metadata["plan"] == "free"
    assert up.session is not None  # confirmations are off by default

    with pytest.raises(AuthApiError) as err:
        c.auth.sign_in_with_password({"email": addr, "password": "wrong"})
    assert err.value.status == 400
    assert err.value.code == "invalid_credentials"

    s = c.auth.sign_in_with_password({"email": addr, "password": "correct horse"})
    assert s.session.access_token and s.session.refresh_token
    assert s.session.token_type == "bearer"
    assert s.user.id == up.user.id

    me = c.auth.get_user()
    assert me.user.id == up.user.id and me.user.role == "authenticated"
    assert c.auth.get_session().access_token == s.session.access_token

    r = c.auth.refresh_session()
    assert r.session.refresh_token != s.session.refresh_token
    assert r.user.id == up.user.id

    u = c.auth.update_user({"data": {"plan": "pro"}})
    assert u.user.user_metadata["plan"] == "pro"
    u = c.auth.update_user({"password": "new horse battery"})
    assert u.user.id == up.user.id

    refresh = c.auth.get_session().refresh_token
    c.auth.sign_out()
    assert c.auth.get_session() is None
    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.refresh_session(refresh)
    assert err.value.code == "refresh_token_not_found"

    again = basalt.client().auth.sign_in_with_password({"email": addr, "password": "new horse battery"})
    assert again.user.user_metadata["plan"] == "pro"


def test_weak_password_and_taken_email(basalt):
    c = basalt.client()
    with pytest.raises(AuthWeakPasswordError) as err:
        c.auth.sign_up({"email": email(), "password": "123"})
    assert err.value.status == 422
    assert err.value.code == "weak_password"
    assert "length" in err.value.reasons

    addr = email()
    c.auth.sign_up({"email": addr, "password": "first one"})
    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.sign_up({"email": addr, "password": "second one"})
    assert err.value.status == 422
    assert err.value.code == "user_already_exists"


def test_admin_create_list_delete(basalt):
    admin = basalt.client(basalt.service_key).auth.admin
    addr = email()
    created = admin.create_user({"email": addr, "password": "admin made", "email_confirm": True,
                                 "app_metadata": {"tier": "gold"}, "user_metadata": {"name": "Ada"}})
    assert created.user.email == addr
    assert created.user.email_confirmed_at is not None
    assert created.user.app_metadata["tier"] == "gold"

    listed = admin.list_users(page=1, per_page=1000)
    assert addr in [u.email for u in listed]

    got = admin.get_user_by_id(created.user.id)
    assert got.user.user_metadata["name"] == "Ada"

    upd = admin.update_user_by_id(created.user.id, {"user_metadata": {"name": "Ada L."}})
    assert upd.user.user_metadata["name"] == "Ada L."

    signed = basalt.client().auth.sign_in_with_password({"email": addr, "password": "admin made"})
    assert signed.user.id == created.user.id

    admin.delete_user(created.user.id)
    assert addr not in [u.email for u in admin.list_users(page=1, per_page=1000)]
    with pytest.raises(AuthApiError) as err:
        admin.get_user_by_id(created.user.id)
    assert err.value.status == 404
    assert err.value.code == "user_not_found"

    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.admin.list_users()
    assert err.value.status == 403


def test_rls_user_vs_anon_vs_service(basalt):
    alice, bob = basalt.client(), basalt.client()
    a = alice.auth.sign_up({"email": email(), "password": "alice pass"}).user
    b = bob.auth.sign_up({"email": email(), "password": "bob pass"}).user

    # signing in switches the data clients to the user's token
    ins = alice.table("notes").insert({"body": "alice's"}).execute()
    assert ins.data[0]["owner"] == a.id
    bob.table("notes").insert({"body": "bob's"}).execute()
    assert alice.rpc("whoami", {}).execute().data == a.id

    assert [n["body"] for n in alice.table("notes").select("body").execute().data] == ["alice's"]
    assert [n["body"] for n in bob.table("notes").select("body").execute().data] == ["bob's"]
    assert basalt.client().table("notes").select("*").execute().data == []

    # another user's rows: update and delete match nothing, insert is refused
    assert bob.table("notes").update({"body": "hacked"}).eq("owner", a.id).execute().data == []
    assert bob.table("notes").delete().eq("owner", a.id).execute().data == []
    from postgrest import APIError

    with pytest.raises(APIError) as err:
        bob.table("notes").insert({"body": "as alice", "owner": a.id}).execute()
    assert err.value.code == "42501"

    service = basalt.client(basalt.service_key)
    rows = service.table("notes").select("owner, body").in_("owner", [a.id, b.id]).order("body").execute().data
    assert rows == [{"owner": a.id, "body": "alice's"}, {"owner": b.id, "body": "bob's"}]

    alice.auth.sign_out()
    assert alice.table("notes").select("*").execute().data == []


async def test_async_auth(basalt):
    c = await basalt.aclient()
    addr = email()
    up = await c.auth.sign_up({"email": addr, "password": "async pass"})
    assert up.session is not None
    s = await c.auth.sign_in_with_password({"email": addr, "password": "async pass"})
    me = await c.auth.get_user(s.session.access_token)
    assert me.user.email == addr
    note = await c.table("notes").insert({"body": "async note"}).execute()
    assert note.data[0]["owner"] == up.user.id
    r = await c.auth.refresh_session()
    assert r.session.access_token
    assert (await c.table("notes").select("body").execute()).data == [{"body": "async note"}]
    await c.auth.sign_out()
    assert await c.auth.get_session() is None
    admin = await basalt.aclient(basalt.service_key)
    users = await admin.auth.admin.list_users()
    assert addr in [u.email for u in users]
    await admin.auth.admin.delete_user(up.user.id)
    assert (await admin.table("notes").select("id").eq("owner", up.user.id).execute()).data == []


def test_set_session_generate_link_verify_and_admin_sign_out(basalt):
    admin = basalt.client(basalt.service_key).auth.admin
    addr = email()
    user = admin.create_user({"email": addr, "password": "link pass", "email_confirm": True}).user

    link = admin.generate_link({"type": "magiclink", "email": addr})
    assert link.user.id == user.id
    assert link.properties.hashed_token and link.properties.verification_type == "magiclink"
    c = basalt.client()
    verified = c.auth.verify_otp({"type": "magiclink", "token_hash": link.properties.hashed_token})
    assert verified.user.id == user.id and verified.session.access_token

    # the session moves to another client with set_session
    other = basalt.client()
    moved = other.auth.set_session(verified.session.access_token, verified.session.refresh_token)
    assert moved.user.id == user.id
    assert other.auth.get_user().user.email == addr
    claims = other.auth.get_claims()
    assert claims["claims"]["sub"] == user.id and claims["claims"]["role"] == "authenticated"

    # a used magic link cannot be used again
    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.verify_otp({"type": "magiclink", "token_hash": link.properties.hashed_token})
    assert err.value.status == 403
    assert err.value.code == "otp_expired"

    # admin sign-out ends every session of the user: their refresh tokens stop working
    admin.sign_out(verified.session.access_token)
    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.refresh_session(other.auth.get_session().refresh_token)
    assert err.value.code == "refresh_token_not_found"


def test_anonymous_sign_in_is_off_by_default(basalt):
    with pytest.raises(AuthApiError) as err:
        basalt.client().auth.sign_in_anonymously()
    assert err.value.status == 422
    assert err.value.code == "anonymous_provider_disabled"
