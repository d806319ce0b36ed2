"""Token guessing is slowed: failed bearer authentications per client address, then 429.

The limiter's clock is replaced by a hand-moved one, so nothing here waits or measures time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pdvault.auth.throttle import AuthFailureLimiter, client_address, scope_client_address
from pdvault.auth.tokens import hash_token, new_token
from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.db import utcnow
from pdvault.main import create_app
from pdvault.principals.models import Token
from tests.conftest import Issued, truncate_all
from tests.helpers import insert_token

PROBLEM = "application/problem+json"
LIMIT = 3
ATTACKER = ("203.0.113.7", 40000)
NEIGHBOUR = ("198.51.100.20", 40001)
CUSTOMERS = "/v1/customers/search"
SEARCH = {"phone": "0900 000 001", "purpose": "customer_self_service"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the limiter on its own ----------------------------------------------------------------


def test_locked_after_limit_failures_within_the_window() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(3, 60, clock=clock)
    for _ in range(2):
        limiter.failed("a")
        assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 60
    clock.now += 59.5
    assert limiter.retry_after("a") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert limiter.retry_after("a") is None  # the oldest failure left the window


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(3, 60, clock=clock)
    limiter.failed("a")
    clock.now += 30
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 30  # until the first of the three is 60 s old
    clock.now += 30
    assert limiter.retry_after("a") is None
    limiter.failed("a")  # two still in the window, plus this one
    assert limiter.retry_after("a") == 30


def test_failures_spread_out_never_lock() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(3, 60, clock=clock)
    for _ in range(50):
        limiter.failed("a")
        assert limiter.retry_after("a") is None
        clock.now += 31  # never three inside one 60 s window


def test_other_addresses_are_not_affected() -> None:
    limiter = AuthFailureLimiter(2, 60, clock=Clock())
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") is not None
    assert limiter.retry_after("b") is None


def test_memory_is_bounded_and_the_least_recent_is_dropped() -> None:
    limiter = AuthFailureLimiter(2, 60, max_clients=100, clock=Clock())
    limiter.failed("keep")
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
        if i % 10 == 0:
            limiter.failed("keep")  # failing again makes it recent
    assert len(limiter) == 100
    assert "keep" in set(limiter.clients())
    assert "10.0.0.0" not in set(limiter.clients())


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        AuthFailureLimiter(0, 60)
    with pytest.raises(ValueError, match="positive"):
        AuthFailureLimiter(1, 0)


def test_forwarded_for_is_ignored_unless_proxies_are_trusted() -> None:
    peer = ("10.0.0.5", 1234)
    header = [b"198.51.100.1, 203.0.113.9"]
    assert client_address(peer, header, 0) == "10.0.0.5"
    assert client_address(peer, header, 1) == "203.0.113.9"  # what our proxy saw
    assert client_address(peer, header, 2) == "198.51.100.1"
    assert client_address(peer, header, 5) == "198.51.100.1"
    assert client_address(peer, [], 1) == "10.0.0.5"
    assert client_address(None, [], 0) == "unknown"
    # Several header lines are one list, in order.
    assert client_address(peer, [b"198.51.100.1", b"203.0.113.9"], 1) == "203.0.113.9"
    scope = {"client": peer, "headers": [(b"x-forwarded-for", b"192.0.2.1")]}
    assert scope_client_address(scope, 0) == "10.0.0.5"
    assert scope_client_address(scope, 1) == "192.0.2.1"


# -- over HTTP -----------------------------------------------------------------------------


def small_limit(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={"auth_failure_limit": LIMIT, **extra})


@pytest.fixture
async def guarded(settings: Settings, keyring: Keyring, database_url: str) -> AsyncIterator[Any]:
    """An app on the test database with a limit of three failures per minute."""
    await truncate_all(database_url)
    application = create_app(small_limit(settings), LocalKeyProvider(keyring))
    async with application.router.lifespan_context(application):
        application.state.runtime.auth_failures.clock = Clock()
        yield application


ClientFactory = Callable[[tuple[str, int]], httpx.AsyncClient]


@pytest.fixture
async def from_address(guarded: Any) -> AsyncIterator[ClientFactory]:
    opened: list[httpx.AsyncClient] = []

    def _client(peer: tuple[str, int]) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=guarded, client=peer)
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(c)
        return c

    yield _client
    for c in opened:
        await c.aclose()


@pytest.fixture
async def shop(guarded: Any) -> Issued:
    from pdvault.policy import Role
    from pdvault.principals import service
    from pdvault.principals.schemas import PrincipalIn

    async with guarded.state.runtime.sessions() as session:
        principal = await service.create_principal(
            session, PrincipalIn(name="test-storefront", role=Role.STOREFRONT)
        )
        created = await service.issue_token(session, principal, 30)
        await session.commit()
    return Issued(str(principal.id), created.token, str(created.id))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_429(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body = r.json()
    assert body["status"] == 429
    assert body["detail"]
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 60
    return wait


async def test_unknown_tokens_are_429_but_a_valid_token_is_served(
    from_address: ClientFactory, shop: Issued, guarded: Any
) -> None:
    attacker = from_address(ATTACKER)
    for _ in range(LIMIT):
        r = await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
        assert r.status_code == 401, r.text
    assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token())))
    # A token that does not resolve, in any scheme, is refused 429 while the address is over.
    assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers={"Authorization": "Basic eD"}))
    # A valid token from that very address is served (and its read logged): the counter
    # refuses failures only, so a guesser slows nobody but itself.
    before = await _event_count(guarded)
    r = await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(shop.token))
    assert r.status_code == 200, r.text
    assert await _event_count(guarded) == before + 1
    # A route that takes no token is not a guess, whatever the request carries.
    stray = {"Authorization": "Basic eDp5"}
    assert (await attacker.get("/healthz", headers=stray)).status_code == 200
    assert (await attacker.get("/healthz")).status_code == 200
    # Without a token: the plain 401, not counted.
    assert (await attacker.post(CUSTOMERS, json=SEARCH)).status_code == 401
    # Another address, valid token: unaffected.
    neighbour = from_address(NEIGHBOUR)
    r = await neighbour.post(CUSTOMERS, json=SEARCH, headers=bearer(shop.token))
    assert r.status_code == 200, r.text


async def test_a_guesser_behind_the_shared_proxy_locks_out_no_valid_client(
    from_address: ClientFactory, shop: Issued, guarded: Any
) -> None:
    """Behind a proxy with the default settings every client has the proxy's address: one
    client's junk tokens, however many and however long, never refuse another's valid one."""
    clock: Clock = guarded.state.runtime.auth_failures.clock
    proxy = ("10.0.0.2", 5555)
    guesser, customer = from_address(proxy), from_address(proxy)
    for _ in range(20):  # ten minutes of guessing, faster than the window forgets
        for _ in range(LIMIT):
            await guesser.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
        clock.now += 30
        r = await customer.post(CUSTOMERS, json=SEARCH, headers=bearer(shop.token))
        assert r.status_code == 200, r.text
    assert_429(await guesser.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token())))


async def test_the_lock_lifts_when_the_window_passes(
    from_address: ClientFactory, shop: Issued, guarded: Any
) -> None:
    clock: Clock = guarded.state.runtime.auth_failures.clock
    attacker = from_address(ATTACKER)
    for _ in range(LIMIT):
        await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
    wait = assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token())))
    assert wait == 60
    clock.now += 60
    r = await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
    assert r.status_code == 401, r.text  # counted afresh, no longer over the limit


async def test_a_lapsed_token_while_over_the_limit_is_429_and_not_logged(
    from_address: ClientFactory, shop: Issued, guarded: Any
) -> None:
    """Over the limit, a revoked token's refusal writes no event: a replayed token cannot
    fill the log faster than the limit allows."""
    revoked = await _revoked(guarded, shop)
    attacker = from_address(ATTACKER)
    for _ in range(LIMIT):
        r = await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(revoked))
        assert r.status_code == 401, r.text
    before = await _event_count(guarded)
    for _ in range(5):
        assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers=bearer(revoked)))
    assert await _event_count(guarded) == before


async def _revoked(app: Any, shop: Issued) -> str:
    token = await insert_token(app, shop.principal_id, timedelta(days=1))
    async with app.state.runtime.sessions() as session:
        from sqlalchemy import update

        await session.execute(
            update(Token).where(Token.token_hash == hash_token(token)).values(revoked_at=utcnow())
        )
        await session.commit()
    return token


@pytest.mark.parametrize("kind", ["malformed", "unknown", "token_expired", "token_revoked"])
async def test_every_kind_of_failure_counts(
    from_address: ClientFactory, shop: Issued, guarded: Any, kind: str
) -> None:
    if kind == "malformed":
        headers = {"Authorization": "Bearer not-a-token"}
    elif kind == "unknown":
        headers = bearer(new_token())
    elif kind == "token_expired":
        headers = bearer(await insert_token(guarded, shop.principal_id, -timedelta(seconds=1)))
    else:
        headers = bearer(await _revoked(guarded, shop))
    attacker = from_address(ATTACKER)
    for _ in range(LIMIT):
        assert (await attacker.post(CUSTOMERS, json=SEARCH, headers=headers)).status_code == 401
    assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers=headers))
    metrics = (await from_address(NEIGHBOUR).get("/metrics")).text
    # The refused one is a failure too: it keeps the address over the limit.
    assert f'pdvault_auth_failures_total{{kind="{kind}"}} {float(LIMIT + 1)}' in metrics
    # The second address carried no token, so only the attacker's fourth request was refused.
    assert "pdvault_auth_throttled_total 1.0" in metrics
    assert ATTACKER[0] not in metrics


async def test_missing_authorization_is_not_a_guess(from_address: ClientFactory) -> None:
    anonymous = from_address(ATTACKER)
    for _ in range(LIMIT * 3):
        assert (await anonymous.post(CUSTOMERS, json=SEARCH)).status_code == 401


async def test_forwarded_for_does_not_escape_the_lock_by_default(
    from_address: ClientFactory,
) -> None:
    attacker = from_address(ATTACKER)
    for i in range(LIMIT):
        headers = {**bearer(new_token()), "X-Forwarded-For": f"192.0.2.{i}"}
        assert (await attacker.post(CUSTOMERS, json=SEARCH, headers=headers)).status_code == 401
    headers = {**bearer(new_token()), "X-Forwarded-For": "192.0.2.200"}
    assert_429(await attacker.post(CUSTOMERS, json=SEARCH, headers=headers))


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    settings: Settings, keyring: Keyring, database_url: str
) -> None:
    await truncate_all(database_url)
    application = create_app(small_limit(settings, trusted_proxy_hops=1), LocalKeyProvider(keyring))
    proxy = ("10.0.0.2", 5555)  # every request arrives from the proxy
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for _ in range(LIMIT):
                headers = {**bearer(new_token()), "X-Forwarded-For": "203.0.113.7"}
                assert (await c.post(CUSTOMERS, json=SEARCH, headers=headers)).status_code == 401
            # A client can prepend anything; the address the proxy appended is the one counted.
            headers = {**bearer(new_token()), "X-Forwarded-For": "192.0.2.9, 203.0.113.7"}
            assert_429(await c.post(CUSTOMERS, json=SEARCH, headers=headers))
            headers = {**bearer(new_token()), "X-Forwarded-For": "198.51.100.3"}
            r = await c.post(CUSTOMERS, json=SEARCH, headers=headers)
            assert r.status_code == 401  # another client behind the same proxy


async def _event_count(app: Any) -> int:
    from sqlalchemy import func, select

    from pdvault.audit.models import AccessEvent

    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AccessEvent)) or 0)


# -- a real server -------------------------------------------------------------------------


@pytest.mark.e2e
def test_live_server_answers_429_with_retry_after(live_server_factory: Any) -> None:
    live = live_server_factory(workers=1, PDVAULT_AUTH_FAILURE_LIMIT=str(LIMIT))
    with httpx.Client(base_url=live.base_url, timeout=10) as c:
        for _ in range(LIMIT):
            r = c.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
            assert r.status_code == 401, r.text
        r = c.post(CUSTOMERS, json=SEARCH, headers=bearer(new_token()))
        assert_429(r)
        assert r.headers["x-request-id"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/healthz").status_code == 200
        metrics = c.get("/metrics").text
    assert re.search(r"^pdvault_auth_throttled_total 1\.0$", metrics, re.MULTILINE)
    assert "127.0.0.1" not in metrics
