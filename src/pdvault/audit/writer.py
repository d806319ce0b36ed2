"""The write path of the access log. Every data access, allowed or denied, passes here.

Three entry points, named for what they do to the transaction:

- ``append``: adds events to the caller's transaction; no commit (the route commits).
- ``commit_read``: a read's events, committed before the data leaves.
- ``denied``: rolls back, commits a refusal's events and returns the error to raise
  (``raise await audit.denied(...)``).

Events go into the request's own transaction, chained (see ``chain.py``) through a slot held
only from the insert to the end of that transaction; the caller commits before any personal
data leaves, so an event that cannot be written means 503 and no data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from pdvault.audit.batch import LogBatcher
from pdvault.audit.chain import PG_CANONICAL_SQL, event_hash, fields_text, writer_statement
from pdvault.audit.ledger import AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.audit.signing import LogSigner
from pdvault.audit.slots import SLOT_KEY, ChainSlot, SlotPool, held_slot
from pdvault.auth.principal import Actor
from pdvault.db import READ_ONLY, begin_writing, insert_many, utcnow, writable
from pdvault.errors import Forbidden, Problem
from pdvault.observability import Metrics, request_id_var
from pdvault.policy import AccessDecision, rule_for

ALLOWED, DENIED = "allowed", "denied"

# Built once: Core statements run on the session's connection (not the ORM bulk path).
_EVENTS = cast(Table, AccessEvent.__table__)
_NEXT_SEQS = text(
    "SELECT nextval(pg_get_serial_sequence('access_events', 'seq')) FROM generate_series(1, :n)"
)
_TOP_SEQ = select(func.coalesce(func.max(AccessEvent.seq), 0))
_EVENT_COLUMNS = (
    "seq, writer_id, writer_seq, at, request_id, principal_id, role, action, customer_id, "
    "fields, purpose, basis, outcome, reason, token_id, target_principal_id, target_token_id"
)
# PostgreSQL, one event: sequence number, hash and insert in one statement and one round trip.
# The database hashes the same canonical bytes verify recomputes (chain.PG_CANONICAL_SQL).
_APPEND_ONE = text(
    f"INSERT INTO access_events ({_EVENT_COLUMNS}, hash) "  # noqa: S608 - module constants only  # nosec B608
    f"SELECT {_EVENT_COLUMNS}, sha256(:prev || {PG_CANONICAL_SQL}) FROM (SELECT "
    "nextval(pg_get_serial_sequence('access_events', 'seq')) AS seq, "
    "CAST(:writer_id AS uuid) AS writer_id, CAST(:writer_seq AS bigint) AS writer_seq, "
    "CAST(:at AS timestamptz) AS at, CAST(:request_id AS varchar) AS request_id, "
    "CAST(:principal_id AS uuid) AS principal_id, CAST(:role AS varchar) AS role, "
    "CAST(:action AS varchar) AS action, CAST(:customer_id AS uuid) AS customer_id, "
    "CAST(:fields AS json) AS fields, CAST(:purpose AS varchar) AS purpose, "
    "CAST(:basis AS varchar) AS basis, CAST(:outcome AS varchar) AS outcome, "
    "CAST(:reason AS varchar) AS reason, CAST(:token_id AS uuid) AS token_id, "
    "CAST(:target_principal_id AS uuid) AS target_principal_id, "
    "CAST(:target_token_id AS uuid) AS target_token_id) AS event "
    "RETURNING hash"
)


@dataclass(frozen=True)
class EventDraft:
    action: str
    outcome: str
    customer_id: uuid.UUID | None = None
    fields: Sequence[str] = ()
    purpose: str | None = None
    basis: str | None = None
    reason: str | None = None
    # What an administrative act was about: the principal, and the token, it created,
    # issued, revoked or disabled (ids only; the acting token comes from the actor).
    target_principal_id: uuid.UUID | None = None
    target_token_id: uuid.UUID | None = None

    @classmethod
    def refusal(
        cls,
        action: str,
        reason: str,
        *,
        customer_id: uuid.UUID | None = None,
        purpose: str | None = None,
        fields: Sequence[str] = (),
        basis: str | None = None,
    ) -> EventDraft:
        """The event of a refusal; a purpose the policy does not know is not recorded."""
        return cls(
            action=action,
            outcome=DENIED,
            customer_id=customer_id,
            fields=tuple(fields),
            purpose=purpose if purpose and rule_for(purpose) else None,
            basis=basis,
            reason=reason,
        )

    @classmethod
    def allowed(cls, action: str, customer_id: uuid.UUID, decision: AccessDecision) -> EventDraft:
        """The event of a disclosure the policy allowed: what it decided, as decided."""
        return cls(
            action=action,
            outcome=ALLOWED,
            customer_id=customer_id,
            fields=decision.fields,
            purpose=decision.purpose,
            basis=decision.basis,
        )


class AuditLog:
    def __init__(
        self,
        metrics: Metrics,
        signer: LogSigner,
        *,
        slots: int = 8,
        enabled: bool = True,
    ) -> None:
        self.metrics = metrics
        self.signer = signer
        self.pool = SlotPool(slots)
        self.enabled = enabled
        self.on_append: list[Any] = []
        self.batcher: LogBatcher | None = None

    def attach(self, sessions: async_sessionmaker[AsyncSession], *, writers: int = 2) -> None:
        """Give reads' events this process's group-committing log writers (``batch.py``)."""
        self.batcher = LogBatcher(sessions, self._append, writers=writers)

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()

    def _rows(self, actor: Actor | None, drafts: Iterable[EventDraft]) -> list[dict[str, Any]]:
        now = utcnow()
        rid = request_id_var.get()
        return [
            {
                "at": now,
                "request_id": rid,
                "principal_id": actor.principal_id if actor else None,
                "role": actor.role.value if actor else None,
                "action": d.action,
                "customer_id": d.customer_id,
                "fields": list(d.fields),
                "purpose": d.purpose,
                "basis": d.basis,
                "outcome": d.outcome,
                "reason": d.reason,
                "token_id": actor.token_id if actor else None,
                "target_principal_id": d.target_principal_id,
                "target_token_id": d.target_token_id,
            }
            for d in drafts
        ]

    async def append(self, session: AsyncSession, actor: Actor | None, *drafts: EventDraft) -> None:
        """Add events to the session's transaction. Neither commits nor raises: they land when
        the caller's layer (the route, or the job's unit of work) commits."""
        rows = self._rows(actor, drafts)
        if rows and self.enabled:
            await self._append(session, rows)

    async def commit_read(
        self, session: AsyncSession, actor: Actor | None, *drafts: EventDraft
    ) -> None:
        """The events of a read, committed before this returns (so before any data leaves).
        Commits; does not raise for a refusal (there is none here).

        A session begun read-only (``READ_ONLY``: the read routes) has written nothing, so its
        transaction ends here and the events go to the group-committing writers. Any other
        session gets them in its own transaction, which is then committed.
        """
        rows = self._rows(actor, drafts)
        if not rows or not self.enabled:
            return
        options = (await session.connection()).sync_connection
        read_only = options is not None and options.get_execution_options().get(READ_ONLY)
        if self.batcher is None or not read_only:
            if read_only:  # no writers here (a tool's log): write in a transaction of its own
                await begin_writing(session)
            await self._append(session, rows)
            await session.commit()
            return
        await session.commit()  # a read-only transaction: nothing to keep, no lock to hold
        await self.batcher.submit(rows)

    async def _append(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        slot = await self._slot(session)
        if slot.dirty:
            await self._resync(session, slot)
        if not slot.registered and not slot.pending_registration:
            await self._register(session, slot)
        connection = await session.connection()
        if len(rows) == 1 and connection.dialect.name == "postgresql":
            await self._append_one(connection, slot, rows[0])
            self._count(rows)
            return
        seqs = await self._allocate_seqs(session, len(rows))
        prev_hash, writer_seq = slot.pending_hash, slot.pending_seq
        for row, seq in zip(rows, seqs, strict=True):
            writer_seq += 1
            row["seq"], row["writer_id"], row["writer_seq"] = seq, slot.writer_id, writer_seq
            row["hash"] = prev_hash = event_hash(prev_hash, row)
        await insert_many(connection, _EVENTS, rows)  # PostgreSQL, many rows: COPY
        slot.pending_seq, slot.pending_hash, slot.touched = writer_seq, prev_hash, True
        self._count(rows)

    async def _append_one(
        self, connection: AsyncConnection, slot: ChainSlot, row: dict[str, Any]
    ) -> None:
        writer_seq = slot.pending_seq + 1
        params = {
            **row,
            "prev": slot.pending_hash,
            "writer_id": slot.writer_id,
            "writer_seq": writer_seq,
            "fields": fields_text(row["fields"]),
        }
        digest = (await connection.execute(_APPEND_ONE, params)).scalar_one()
        slot.pending_seq, slot.pending_hash, slot.touched = writer_seq, bytes(digest), True

    def _count(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.metrics.access_events.labels(row["outcome"]).inc()
            if row["reason"] and row["outcome"] == DENIED:
                self.metrics.denials.labels(row["reason"]).inc()
        for callback in self.on_append:
            callback(len(rows))

    async def _slot(self, session: AsyncSession) -> ChainSlot:
        held = held_slot(session.sync_session)
        if held is not None:
            return held
        await session.connection()  # a transaction is open, so its end returns the slot
        slot = await self.pool.acquire()
        session.sync_session.info[SLOT_KEY] = slot
        return slot

    async def _resync(self, session: AsyncSession, slot: ChainSlot) -> None:
        last = (
            await session.execute(
                select(AccessEvent.writer_seq, AccessEvent.hash)
                .where(AccessEvent.writer_id == slot.writer_id)
                .order_by(AccessEvent.writer_seq.desc())
                .limit(1)
            )
        ).first()
        if last is not None:
            slot.head_seq, slot.head_hash = int(last[0]), bytes(last[1])
        registered = await session.scalar(
            select(func.count()).where(AuditWriter.writer_id == slot.writer_id)
        )
        slot.registered = bool(registered)
        slot.dirty = False
        slot.begin()

    async def _register(self, session: AsyncSession, slot: ChainSlot) -> None:
        at = utcnow()
        session.add(
            AuditWriter(
                writer_id=slot.writer_id,
                registered_at=at,
                process=slot.pool.process,
                key_id=self.signer.key_id,
                signature=self.signer.sign(writer_statement(slot.writer_id, at, slot.pool.process)),
            )
        )
        await session.flush()
        slot.pending_registration = True
        slot.touched = True

    async def _allocate_seqs(self, session: AsyncSession, count: int) -> list[int]:
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            result = await connection.execute(_NEXT_SEQS, {"n": count})
            return sorted(int(v) for v in result.scalars())
        # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE).
        top = int(await connection.scalar(_TOP_SEQ) or 0)
        return list(range(top + 1, top + 1 + count))

    async def denied(
        self,
        session: AsyncSession,
        actor: Actor | None,
        *drafts: EventDraft,
        problem: Problem | None = None,
    ) -> Problem:
        """Commit a refusal's events, then return the error for the caller to raise.

        Commits; does not raise: the call site reads ``raise await audit.denied(...)``. The
        transaction is rolled back first, so nothing else it held survives, and the events are
        durable before the refusal leaves. The error is ``problem``, or 403 naming the first
        event's reason.
        """
        await session.rollback()
        await writable(session)
        await self.append(session, actor, *drafts)
        await session.commit()
        if problem is None:
            reason = drafts[0].reason if drafts else None
            problem = Forbidden(f"Access denied: {reason}.", reason=reason)
        return problem
