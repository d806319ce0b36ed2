"""Console pages that show personal data (issue 18.1, 18.2): the API's own services and
policy, the same access events marked as the console's, everything escaped, no personal
value in any URL, no-store."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import TokenFactory, access_events
from tests.console.conftest import SignIn, post_form

SCRIPT = "<script>alert(1)</script>"
HTML_DESCRIPTION = (
    '<img src=x onerror="alert(2)"><b>bold</b> & <a href="https://evil.example">x</a>'
)
_URLS = re.compile(r'(?:href|action|src)="([^"]*)"')


def _urls(html: str) -> list[str]:
    return _URLS.findall(html)


async def test_a_customer_read_is_the_apis_read_escaped_and_marked(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    phone = "0987654321"
    customer = await make_customer(full_name=SCRIPT, phone=phone)
    employee = await issue("employee")
    csrf = await console_sign_in(employee.token)
    assert (await client.get("/console/customers")).status_code == 200
    r = await post_form(
        client,
        "/console/customers",
        {"csrf": csrf, "customer_id": customer, "purpose": "order_confirmation"},
    )
    assert r.status_code == 200, r.text
    assert SCRIPT not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert phone[1:] in r.text  # stored normalised (+84...)
    assert r.headers["cache-control"] == "no-store"
    assert all(phone[1:] not in url and "script" not in url for url in _urls(r.text))
    [console_read] = await access_events(app, action="customer.read")
    assert console_read["request_id"].startswith("console:")

    # The same read through the API writes the same event, but for its request id.
    api = await client.get(
        f"/v1/customers/{customer}",
        params={"purpose": "order_confirmation"},
        headers=employee.headers,
    )
    assert api.status_code == 200
    [_, api_read] = await access_events(app, action="customer.read")
    same = ("principal_id", "role", "action", "customer_id", "fields", "purpose", "outcome")
    assert {k: console_read[k] for k in same} == {k: api_read[k] for k in same}
    assert not api_read["request_id"].startswith("console:")


async def test_a_refused_read_is_a_logged_refusal_page(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    customer = await make_customer(consents={"processing": True, "marketing": False})
    employee = await issue("employee")
    csrf = await console_sign_in(employee.token)
    r = await post_form(
        client,
        "/console/customers",
        {"csrf": csrf, "customer_id": customer, "purpose": "marketing"},
    )
    assert r.status_code == 403
    assert "<code>consent_missing</code>" in r.text
    [refusal] = await access_events(app, action="customer.read", outcome="denied")
    assert refusal["request_id"].startswith("console:")
    r = await post_form(
        client, "/console/customers", {"csrf": csrf, "customer_id": "x", "purpose": "nope"}
    )
    assert r.status_code == 422
    # The auditor may not read customers at all: the policy's gate, logged.
    auditor = await issue("auditor")
    await console_sign_in(auditor.token)
    assert (await client.get("/console/customers")).status_code == 403


async def _complaint(client: httpx.AsyncClient, dpo_headers: dict[str, str]) -> str:
    r = await client.post(
        "/v1/complaints",
        json={
            "category": "misuse",
            "channel": "hotline",
            "description": HTML_DESCRIPTION,
            "contact": SCRIPT,
        },
        headers=dpo_headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_complaint_holding_html_is_shown_escaped_to_the_dpo_only(
    client: httpx.AsyncClient, app: Any, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    dpo = await issue("dpo")
    complaint_id = await _complaint(client, dpo.headers)
    await console_sign_in(dpo.token)
    listing = await client.get("/console/complaints")
    assert f'href="/console/complaints/{complaint_id}"' in listing.text
    r = await client.get(f"/console/complaints/{complaint_id}")
    assert r.status_code == 200
    assert "<img" not in r.text
    assert "<b>bold</b>" not in r.text
    assert SCRIPT not in r.text
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;&lt;b&gt;bold&lt;/b&gt; &amp;" in r.text
    assert "evil.example" not in "".join(_urls(r.text))
    [read] = await access_events(app, action="complaint.read")
    assert read["request_id"].startswith("console:")

    auditor = await issue("auditor")
    await console_sign_in(auditor.token)
    r = await client.get(f"/console/complaints/{complaint_id}")
    assert r.status_code == 200
    assert "bold" not in r.text
    assert "Không hiển thị cho vai trò của bạn." in r.text


async def test_a_search_by_phone_is_posted_and_logged_as_the_apis(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    phone = "0912000111"
    customer = await make_customer(full_name=SCRIPT, phone=phone)
    employee = await issue("employee")
    csrf = await console_sign_in(employee.token)
    r = await post_form(
        client,
        "/console/customers/search",
        {"csrf": csrf, "key": phone, "purpose": "order_confirmation"},
    )
    assert r.status_code == 200, r.text
    assert customer in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert SCRIPT not in r.text
    assert all(phone[1:] not in url for url in _urls(r.text))
    assert f'value="{phone}"' not in r.text  # the form does not echo it back
    [search] = await access_events(app, action="customer.search")
    assert search["request_id"].startswith("console:")
    assert str(search["customer_id"]) == customer
    r = await post_form(
        client,
        "/console/customers/search",
        {"csrf": csrf, "key": "not-a-phone", "purpose": "order_confirmation"},
    )
    assert r.status_code == 422
    assert (await post_form(client, "/console/customers/search", {"key": phone})).status_code == 403


async def test_the_lookup_offers_only_the_roles_purposes_and_logs_a_forged_one(
    client: httpx.AsyncClient,
    app: Any,
    issue: TokenFactory,
    console_sign_in: SignIn,
    make_customer: Any,
) -> None:
    """Issue 19.4: find by phone, open the customer for a purpose; the purposes offered are
    the role's (those reaching some field); a purpose the role may not state, sent by hand,
    is refused by the service and logged as the API's refusal is, shown on the page."""
    from pdvault.policy import Access, purposes_for

    phone = "0912000222"
    customer = await make_customer(phone=phone)
    employee = await issue("employee")
    csrf = await console_sign_in(employee.token)
    page = (await client.get("/console/customers")).text
    offered = re.findall(r'<option value="([a-z_]+)"', page)
    allowed = purposes_for("employee", Access.READ, with_fields=True)
    assert offered == [*allowed, *allowed]  # the find form's list and the read form's
    assert "accounting" not in offered  # reaches no customer field
    assert "judicial_disclosure" not in offered  # another role's

    found = await post_form(
        client,
        "/console/customers/search",
        {"csrf": csrf, "key": phone, "purpose": "order_confirmation"},
    )
    assert f'name="customer_id" value="{customer}"' in found.text  # its "open" button
    opened = await post_form(
        client,
        "/console/customers",
        {"csrf": csrf, "customer_id": customer, "purpose": "order_confirmation"},
    )
    assert opened.status_code == 200
    assert "Xác nhận đơn hàng" in opened.text or "order_confirmation" in opened.text

    forged = await post_form(
        client,
        "/console/customers",
        {"csrf": csrf, "customer_id": customer, "purpose": "judicial_disclosure"},
    )
    assert forged.status_code == 403
    # The API's own answer to the same request names the same reason.
    api = await client.get(
        f"/v1/customers/{customer}",
        params={"purpose": "judicial_disclosure"},
        headers=employee.headers,
    )
    assert api.status_code == 403
    reason = api.json()["reason"]
    assert f"<code>{reason}</code>" in forged.text
    assert "nhật ký truy cập" in forged.text
    console_denial, api_denial = await access_events(
        app, action="customer.read", outcome="denied", reason=reason
    )
    assert str(console_denial["customer_id"]) == customer
    assert console_denial["request_id"].startswith("console:")
    assert console_denial["purpose"] == api_denial["purpose"]
