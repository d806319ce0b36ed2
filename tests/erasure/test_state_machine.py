"""Deletion requests as a state machine (hypothesis, stateful): whatever sequence of filings,
approvals, rejections, legal holds and releases arrives, the vault's answers and stored state
match the model — pending → executed | rejected only, at most one pending request per
customer, erased exactly when a request was executed, and no request ever lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck
from hypothesis import settings as run_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.customers.models import Customer
from pdvault.erasure.models import DeletionRequest
from pdvault.main import create_app
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body, truncate_all

T = TypeVar("T")
CUSTOMERS = 3
DELETIONS = "/v1/deletion-requests"


class Harness:
    """One app, one client and a token per role, driven from a private event loop."""

    def __init__(self, settings_: Settings, keyring: Keyring, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.run(truncate_all(database_url))
        self.app = create_app(settings_, LocalKeyProvider(keyring))
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.run(self.lifespan.__aenter__())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )
        self.tokens = {role: self.run(self._token(role)) for role in ("storefront", "dpo", "legal")}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _token(self, role: str) -> dict[str, str]:
        async with self.app.state.runtime.sessions() as session:
            p = await principals.create_principal(
                session, PrincipalIn(name=f"sm-{role}", role=Role(role))
            )
            issued = await principals.issue_token(session, p, 1)
            await session.commit()
        return {"Authorization": f"Bearer {issued.token}"}

    def call(self, method: str, path: str, role: str, **kw: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, headers=self.tokens[role], **kw))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


def deletion_machine(h: Harness) -> type[RuleBasedStateMachine]:
    class DeletionRequests(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.customers: list[str] = []
            for _ in range(CUSTOMERS):
                r = h.call("POST", "/v1/customers", "storefront", json=customer_body())
                assert r.status_code == 201, r.text
                self.customers.append(r.json()["id"])
            self.erased: set[str] = set()
            self.requests: dict[str, tuple[str, str]] = {}  # id -> (customer, status)
            self.holds: dict[str, list[str]] = {c: [] for c in self.customers}

        def _pending(self, customer: str) -> str | None:
            return next(
                (
                    rid
                    for rid, (c, st_) in self.requests.items()
                    if c == customer and st_ == "pending"
                ),
                None,
            )

        @rule(i=st.integers(0, CUSTOMERS - 1), role=st.sampled_from(["storefront", "dpo"]))
        def file(self, i: int, role: str) -> None:
            customer = self.customers[i]
            body = {"customer_id": customer, "channel": "storefront"}
            r = h.call("POST", DELETIONS, role, json=body)
            if customer in self.erased:
                assert r.status_code == 410, r.text
            elif self._pending(customer) is not None:
                assert r.status_code == 409, r.text
                assert r.json()["reason"] == "request_pending"
            else:
                assert r.status_code == 201, r.text
                self.requests[r.json()["id"]] = (customer, "pending")

        @rule(data=st.data())
        def approve(self, data: st.DataObject) -> None:
            if not self.requests:
                return
            rid = data.draw(st.sampled_from(sorted(self.requests)))
            customer, status = self.requests[rid]
            r = h.call("POST", f"{DELETIONS}/{rid}/approve", "dpo")
            if status != "pending":
                assert r.status_code == 409, r.text
                assert r.json()["reason"] == "invalid_transition"
            elif self.holds[customer]:
                assert r.status_code == 409, r.text
                assert r.json()["reason"] == "legal_hold"
            else:
                assert r.status_code == 200, r.text
                self.requests[rid] = (customer, "executed")
                self.erased.add(customer)

        @rule(data=st.data())
        def reject(self, data: st.DataObject) -> None:
            if not self.requests:
                return
            rid = data.draw(st.sampled_from(sorted(self.requests)))
            customer, status = self.requests[rid]
            r = h.call("POST", f"{DELETIONS}/{rid}/reject", "dpo", json={"reason": "Mẫu"})
            if status != "pending":
                assert r.status_code == 409, r.text
            else:
                assert r.status_code == 200, r.text
                self.requests[rid] = (customer, "rejected")

        @rule(i=st.integers(0, CUSTOMERS - 1))
        def hold(self, i: int) -> None:
            customer = self.customers[i]
            r = h.call(
                "POST",
                "/v1/judicial-requests",
                "legal",
                json={
                    "authority_type": "procuracy",
                    "authority_name": "Viện kiểm sát Mẫu",
                    "document_number": "7/QĐ-MAU",
                    "document_date": "2026-11-01",
                    "legal_basis": "Điều mẫu (ví dụ)",
                    "case_reference": "VA-MAU-7",
                    "customer_ids": [customer],
                    "fields": ["full_name"],
                    "valid_until": "2099-01-01T00:00:00Z",
                },
            )
            if customer in self.erased:
                return  # filing about an erased customer is the judicial workflow's business
            assert r.status_code == 201, r.text
            self.holds[customer].append(r.json()["id"])

        @rule(i=st.integers(0, CUSTOMERS - 1))
        def release(self, i: int) -> None:
            customer = self.customers[i]
            if not self.holds[customer]:
                return
            jid = self.holds[customer].pop()
            r = h.call("POST", f"/v1/judicial-requests/{jid}/reject", "dpo", json={"reason": "Mẫu"})
            assert r.status_code == 200, r.text

        @rule(i=st.integers(0, CUSTOMERS - 1))
        def read(self, i: int) -> None:
            customer = self.customers[i]
            r = h.call(
                "GET",
                f"/v1/customers/{customer}",
                "storefront",
                params={"purpose": "customer_self_service"},
            )
            assert r.status_code == (410 if customer in self.erased else 200), r.text

        @invariant()
        def stored_state_matches_the_model(self) -> None:
            ids = [uuid.UUID(c) for c in self.customers]

            async def load() -> tuple[dict[str, tuple[str, str]], dict[str, bool]]:
                async with h.app.state.runtime.sessions() as session:
                    reqs = (
                        await session.scalars(
                            select(DeletionRequest).where(DeletionRequest.customer_id.in_(ids))
                        )
                    ).all()
                    rows = (
                        await session.scalars(select(Customer).where(Customer.id.in_(ids)))
                    ).all()
                return (
                    {str(r.id): (str(r.customer_id), r.status) for r in reqs},
                    {str(c.id): c.erased_at is not None for c in rows},
                )

            stored, erased = h.run(load())
            assert stored == self.requests  # nothing lost, nothing extra, every status as modelled
            assert {c for c, gone in erased.items() if gone} == self.erased
            for customer in self.customers:
                pending = [r for r, (c, s) in stored.items() if c == customer and s == "pending"]
                assert len(pending) <= 1
            for customer, status in stored.values():
                assert status in {"pending", "executed", "rejected"}
                if status == "executed":
                    assert erased[customer]

    return DeletionRequests


def test_deletion_requests_never_reach_an_illegal_state(
    settings: Settings, keyring: Keyring, database_url: str
) -> None:
    harness = Harness(settings, keyring, database_url)
    try:
        run_state_machine_as_test(
            deletion_machine(harness),
            settings=run_settings(
                max_examples=15,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            ),
        )
    finally:
        harness.close()
