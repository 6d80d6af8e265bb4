"""Edge functions through supabase-py's functions.invoke: JSON and text bodies, methods,
query strings, headers, the caller's token, and FunctionsHttpError for a non-2xx answer."""

import json
import uuid

import pytest
from supabase_functions.errors import FunctionsHttpError


def test_invoke_json_text_and_methods(basalt):
    c = basalt.client()
    out = c.functions.invoke("hello", {"body": {"name": "py"}, "responseType": "json"})
    assert out == {"hello": "py", "method": "POST", "body": {"name": "py"}, "query": None, "custom": None, "role": "anon"}

    raw = c.functions.invoke("hello", {"body": "just text"})
    assert json.loads(raw)["body"] == "just text"

    got = c.functions.invoke("hello?q=search", {"method": "GET", "headers": {"x-custom": "yes"}, "responseType": "json"})
    assert (got["method"], got["query"], got["custom"], got["body"]) == ("GET", "search", "yes", None)

    assert c.functions.invoke("hello?as=text", {"method": "GET"}) == b"plain hello"


def test_invoke_errors_and_roles(basalt):
    c = basalt.client()
    with pytest.raises(FunctionsHttpError) as err:
        c.functions.invoke("hello", {"body": {"fail": True}})
    assert err.value.status == 418
    assert "asked to fail" in err.value.message

    with pytest.raises(FunctionsHttpError) as err:
        c.functions.invoke("no-such-function", {"body": {}})
    assert err.value.status == 404

    svc = basalt.client(basalt.service_key)
    assert svc.functions.invoke("hello", {"body": {}, "responseType": "json"})["role"] == "service_role"

    c.auth.sign_up({"email": f"fn-{uuid.uuid4().hex[:8]}@example.com", "password": "function pass"})
    assert c.functions.invoke("hello", {"body": {}, "responseType": "json"})["role"] == "authenticated"


async def test_async_invoke(basalt):
    c = await basalt.aclient()
    out = await c.functions.invoke("hello", {"body": {"name": "async"}, "responseType": "json"})
    assert out["hello"] == "async" and out["role"] == "anon"
