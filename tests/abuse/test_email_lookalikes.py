"""Look-alike email addresses are refused, never folded into (or matched with) the Latin one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pdvault.customers import normalize
from pdvault.customers.normalize import FieldError
from tests.conftest import Issued, TokenFactory, customer_body
from tests.customers.conftest import names_field
from tests.helpers import assert_problem

LATIN = "paypal.mau@example.com"
SELF = "customer_self_service"

LOOKALIKES = {
    "cyrillic-a-in-local": "p\u0430ypal.mau@example.com",
    "greek-omicron-in-local": "p\u03bfypal@example.com",
    "cyrillic-a-in-domain": "paypal.mau@ex\u0430mple.com",
    "fullwidth-p": "\uff50aypal.mau@example.com",
    "fullwidth-at": "paypal.mau\uff20example.com",
    "ligature-fi": "\ufb01x@example.com",
    "zero-width-space": "pay\u200bpal.mau@example.com",
    "zero-width-joiner": "pay\u200dpal.mau@example.com",
    "soft-hyphen": "pay\u00adpal.mau@example.com",
    "bom": "\ufeffpaypal.mau@example.com",
    "rtl-override": "paypal\u202e.mau@example.com",
    "nbsp": "paypal\u00a0mau@example.com",
}


@pytest.mark.parametrize("value", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_lookalikes_are_refused_without_echo(value: str) -> None:
    with pytest.raises(FieldError) as info:
        normalize.email(value)
    assert value not in str(info.value)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("Khach.Mau@EXAMPLE.Com", "Khach.Mau@example.com"),
        ("nguyễn.văn@example.com", "nguyễn.văn@example.com"),  # Latin with diacritics
        ("иван@пример.рф", "иван@пример.рф"),  # one script throughout
        ("山田たろう@example.jp", "山田たろう@example.jp"),  # Han with Hiragana is one writing
        ("김철수@example.kr", "김철수@example.kr"),
        ("user@EXAMPLE.COM", "user@example.com"),
        ("x@Bücher.example", "x@bücher.example"),  # IDNA, lower-cased
    ],
)
def test_ordinary_international_addresses_still_pass(value: str, canonical: str) -> None:
    assert normalize.email(value) == canonical


def test_a_whole_script_lookalike_is_a_different_address() -> None:
    """All-Cyrillic a-c-e is accepted (one script: a real spelling) and stays its own address:
    it never matches Latin ace in search or duplicate detection (a known residual risk)."""
    cyrillic = normalize.email("\u0430\u0441\u0435@example.com")
    assert cyrillic != normalize.email("ace@example.com")


@pytest.fixture
async def shop(issue: TokenFactory) -> Issued:
    return await issue("storefront", "test-storefront")


@pytest.mark.parametrize("name", ["cyrillic-a-in-local", "fullwidth-p", "zero-width-space"])
async def test_a_lookalike_never_matches_or_duplicates_the_latin_address(
    client: httpx.AsyncClient, app: Any, shop: Issued, name: str
) -> None:
    r = await client.post("/v1/customers", json=customer_body(email=LATIN), headers=shop.headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    lookalike = LOOKALIKES[name]
    # Registering the look-alike: refused, not a duplicate of (nor a twin beside) the Latin one.
    r = await client.post(
        "/v1/customers", json=customer_body(email=lookalike), headers=shop.headers
    )
    problem = assert_problem(r, 422, errors=True)
    assert names_field(problem, "email")
    assert lookalike not in r.text
    # Searching with it finds nothing: refused the same way.
    r = await client.post(
        "/v1/customers/search", json={"email": lookalike, "purpose": SELF}, headers=shop.headers
    )
    assert names_field(assert_problem(r, 422, errors=True), "email")
    # Changing the Latin customer's email to the look-alike: refused, the stored one kept.
    r = await client.patch(
        f"/v1/customers/{cid}",
        params={"purpose": SELF},
        json={"email": lookalike},
        headers={**shop.headers, "If-Match": "*"},
    )
    assert_problem(r, 422)
    r = await client.post(
        "/v1/customers/search", json={"email": LATIN, "purpose": SELF}, headers=shop.headers
    )
    assert [hit["id"] for hit in r.json()["items"]] == [cid]
