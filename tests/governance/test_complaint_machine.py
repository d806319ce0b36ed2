"""A stateful property test of the complaint workflow: whatever sequence of filings, moves
(legal or not, with or without a rejection ground, one at a time or racing) and reads
hypothesis tries, no complaint reaches a state outside R6.2's machine, none is lost, the
history is exactly the moves that were answered 200, and the auditor never sees the text."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.main import create_app
from pdvault.policy import Role
from tests.conftest import customer_body, truncate_all
from tests.governance.conftest import COMPLAINTS, DESCRIPTION, complaint_body

T = TypeVar("T")
STATES = ["received", "investigating", "upheld", "rejected", "closed"]
LEGAL = {
    ("received", "investigating"),
    ("investigating", "upheld"),
    ("investigating", "rejected"),
    ("upheld", "closed"),
    ("rejected", "closed"),
}
DECIDED = {"upheld", "rejected", "closed"}


class Harness:
    """One app, one event loop, one client and a principal per role, for every run."""

    def __init__(self, config: Settings, keyring: Keyring) -> None:
        self.runner = asyncio.Runner()
        self.app = create_app(config, LocalKeyProvider(keyring))
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.run(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.headers = {
            role: self.run(self._token(role)) for role in ("dpo", "auditor", "storefront")
        }
        r = self.run(
            self.client.post(
                "/v1/customers", json=customer_body(), headers=self.headers["storefront"]
            )
        )
        assert r.status_code == 201, r.text
        self.customer_id = str(r.json()["id"])

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    async def _token(self, role: str) -> dict[str, str]:
        from pdvault.principals import service
        from pdvault.principals.schemas import PrincipalIn

        async with self.app.state.runtime.sessions() as session:
            principal = await service.create_principal(
                session, PrincipalIn(name=f"machine-{role}", role=Role(role))
            )
            created = await service.issue_token(session, principal, 1)
            await session.commit()
        return {"Authorization": f"Bearer {created.token}"}

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.lifespan.__aexit__(None, None, None))
        self.runner.close()


class ComplaintMachine(RuleBasedStateMachine):
    harness: Harness

    complaints = Bundle("complaints")

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}
        self.moves: dict[str, list[tuple[str, str]]] = {}

    # -- helpers --------------------------------------------------------------------------

    def _move(self, cid: str, to: str, ground: str | None) -> httpx.Response:
        body: dict[str, Any] = {"to": to, "note": "ghi chú mẫu"}
        if ground is not None:
            body["rejection_ground"] = ground
        return self.harness.run(
            self.harness.client.post(
                f"{COMPLAINTS}/{cid}/transitions", json=body, headers=self.harness.headers["dpo"]
            )
        )

    def _expect(self, cid: str, to: str, ground: str | None, r: httpx.Response) -> None:
        current = self.status[cid]
        if ground is not None and to != "rejected":
            assert r.status_code == 422, r.text
        elif (current, to) in LEGAL:
            assert r.status_code == 200, r.text
            self._moved(cid, current, to)
        else:
            assert r.status_code == 409, r.text
            assert r.json()["reason"] == "invalid_transition"

    def _moved(self, cid: str, current: str, to: str) -> None:
        self.status[cid] = to
        self.moves[cid].append((current, to))

    # -- rules ----------------------------------------------------------------------------

    @rule(target=complaints, about_customer=st.booleans())
    def file(self, about_customer: bool) -> str:
        body = complaint_body(self.harness.customer_id if about_customer else None)
        r = self.harness.run(
            self.harness.client.post(
                COMPLAINTS, json=body, headers=self.harness.headers["storefront"]
            )
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "received"
        cid = str(r.json()["id"])
        self.status[cid] = "received"
        self.moves[cid] = []
        return cid

    @rule(
        cid=complaints,
        to=st.sampled_from(STATES),
        ground=st.none() | st.sampled_from(["inaccurate_registration_data", "unfounded"]),
    )
    def move(self, cid: str, to: str, ground: str | None) -> None:
        self._expect(cid, to, ground, self._move(cid, to, ground))

    @rule(cid=complaints, moves=st.lists(st.sampled_from(STATES), min_size=2, max_size=3))
    def race(self, cid: str, moves: list[str]) -> None:
        """Moves sent at once: at most one legal one wins; the rest are refused."""

        async def all_at_once() -> list[httpx.Response]:
            return list(
                await asyncio.gather(
                    *(
                        self.harness.client.post(
                            f"{COMPLAINTS}/{cid}/transitions",
                            json={"to": to, "note": "ghi chú mẫu"},
                            headers=self.harness.headers["dpo"],
                        )
                        for to in moves
                    )
                )
            )

        current = self.status[cid]
        results = self.harness.run(all_at_once())
        for r in results:
            assert r.status_code in (200, 409), r.text
            if r.status_code == 409:
                assert r.json()["reason"] == "invalid_transition"
        won = sorted(to for to, r in zip(moves, results, strict=True) if r.status_code == 200)
        # The server serialised them in some order: its history says which, and that order
        # must be a legal walk from where the complaint stood.
        r = self.harness.run(
            self.harness.client.get(f"{COMPLAINTS}/{cid}", headers=self.harness.headers["dpo"])
        )
        new = [(h["from_status"], h["to_status"]) for h in r.json()["history"]][
            len(self.moves[cid]) :
        ]
        assert sorted(to for _, to in new) == won
        state = current
        for frm, to in new:
            assert (frm, to) == (state, to)
            assert (frm, to) in LEGAL
            self._moved(cid, frm, to)
            state = to
        # Nothing legal was left undone: a refused move was illegal once the others had run.
        refused = [to for to, r in zip(moves, results, strict=True) if r.status_code == 409]
        if not won:
            assert not any((current, to) in LEGAL for to in refused)

    @rule(cid=complaints)
    def auditor_reads(self, cid: str) -> None:
        r = self.harness.run(
            self.harness.client.get(f"{COMPLAINTS}/{cid}", headers=self.harness.headers["auditor"])
        )
        assert r.status_code == 200, r.text
        assert DESCRIPTION not in r.text
        assert r.json()["description"] is None
        assert r.json()["status"] == self.status[cid]

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def every_complaint_is_where_the_model_says(self) -> None:
        if not self.status:
            return
        r = self.harness.run(
            self.harness.client.get(
                COMPLAINTS, params={"limit": 500}, headers=self.harness.headers["auditor"]
            )
        )
        assert r.status_code == 200, r.text
        served = {i["id"]: i for i in r.json()["items"]}
        for cid, status in self.status.items():
            assert cid in served, "a complaint was lost"
            item = served[cid]
            assert item["status"] == status
            assert item["status"] in STATES
            assert (item["decided_at"] is not None) == (status in DECIDED)
            assert (item["closed_at"] is not None) == (status == "closed")

    def teardown(self) -> None:
        for cid, moves in self.moves.items():
            r = self.harness.run(
                self.harness.client.get(f"{COMPLAINTS}/{cid}", headers=self.harness.headers["dpo"])
            )
            assert r.status_code == 200, r.text
            body = r.json()
            history = [(h["from_status"], h["to_status"]) for h in body["history"]]
            assert history == moves
            assert [h["step"] for h in body["history"]] == list(range(1, len(moves) + 1))
            state = "received"
            for frm, to in history:  # the history is a legal walk from received
                assert frm == state
                assert (frm, to) in LEGAL
                state = to
            assert state == body["status"]
            assert body["description"] == DESCRIPTION


def test_complaint_state_machine(settings: Settings, keyring: Keyring, database_url: str) -> None:
    asyncio.run(truncate_all(database_url))
    harness = Harness(settings, keyring)
    ComplaintMachine.harness = harness
    try:
        machine = settings_for_machine(ComplaintMachine)
        machine.TestCase().runTest()
    finally:
        harness.close()


def settings_for_machine(machine: type[RuleBasedStateMachine]) -> type[RuleBasedStateMachine]:
    machine.TestCase.settings = settings(
        max_examples=20,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    return machine
