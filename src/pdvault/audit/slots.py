"""Chain slots: how a process appends to the log without one lock across every transaction.

A process owns a few writers (slots). A request takes a free slot when it inserts its first
event and gives it back when its transaction ends, so at most ``size`` of this process's
transactions hold a slot at once, each only from its event insert to its commit. The slot's
head advances only when the commit succeeds; after any doubt (a failed commit that may have
landed) it is re-read from the database before its next use.

The hooks that advance and give back a slot listen on ``db.VaultSession``, the class of every
session ``db.make_sessionmaker`` makes; a pool installs them when it is made, so any session
that can hold one of its slots has them (the database layer knows nothing of the log).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from pdvault.audit.chain import genesis_hash
from pdvault.db import VaultSession, new_id

SLOT_KEY = "pdvault.audit_slot"


@dataclass
class ChainSlot:
    pool: SlotPool
    writer_id: uuid.UUID
    registered: bool = False
    head_seq: int = 0
    head_hash: bytes = b""
    dirty: bool = False
    # What this transaction appended but has not committed yet.
    pending_seq: int = 0
    pending_hash: bytes = b""
    pending_registration: bool = False
    touched: bool = False
    committed: bool = field(default=False)

    def begin(self) -> None:
        self.pending_seq, self.pending_hash = self.head_seq, self.head_hash
        self.pending_registration = False
        self.touched = False
        self.committed = False

    def on_commit(self) -> None:
        if self.touched:
            self.head_seq, self.head_hash = self.pending_seq, self.pending_hash
            if self.pending_registration:
                self.registered = True
        self.committed = True

    def on_end(self) -> None:
        if not self.committed and self.touched:
            self.dirty = True  # the commit may or may not have landed: re-read before reuse
        self.pool.release(self)


class SlotPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free: asyncio.Queue[ChainSlot] = asyncio.Queue()
        self._created = 0
        self.process = f"{socket.gethostname()[:120]}:{os.getpid()}"
        install_session_hooks(VaultSession)

    async def acquire(self) -> ChainSlot:
        if self._free.empty() and self._created < self.size:
            self._created += 1
            writer_id = new_id()
            slot = ChainSlot(self, writer_id, head_hash=genesis_hash(writer_id))
        else:
            slot = await self._free.get()
        slot.begin()
        return slot

    def release(self, slot: ChainSlot) -> None:
        self._free.put_nowait(slot)


def held_slot(session: Session) -> ChainSlot | None:
    slot = session.info.get(SLOT_KEY)
    return slot if isinstance(slot, ChainSlot) else None


def _after_commit(session: Session) -> None:
    slot = held_slot(session)
    if slot is not None:
        slot.on_commit()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    slot = session.info.pop(SLOT_KEY, None)
    if isinstance(slot, ChainSlot):
        slot.on_end()


def install_session_hooks(session_class: Any) -> None:
    if not event.contains(session_class, "after_commit", _after_commit):
        event.listen(session_class, "after_commit", _after_commit)
        event.listen(session_class, "after_transaction_end", _after_transaction_end)
