"""Engine, sessions and the declarative base shared by every domain package."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime
from sqlalchemy import JSON, DateTime, MetaData, event, insert, inspect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 is in year 0 in UTC: refuse it here (422) rather than at the bind.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


# A time from a client: with an offset, and representable in UTC (what UTCDateTime stores).
AwareUTC = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _uuid7(ms: int, rand: int) -> uuid.UUID:
    """A UUIDv7 from a millisecond timestamp and 74 random bits."""
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so ids sort by creation and B-tree inserts stay local."""
    return _uuid7(time.time_ns() // 1_000_000, secrets.randbits(74))


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s of this millisecond, their random bits from one read of the system's
    generator (a batch import names thousands of rows: a system call each cost more than
    the rest of making them)."""
    ms = time.time_ns() // 1_000_000
    pool = os.urandom(10 * count)
    return [
        _uuid7(ms, int.from_bytes(pool[start : start + 10]) >> 6)  # 74 bits
        for start in range(0, 10 * count, 10)
    ]


COPY_FROM_ROWS = 32


async def insert_many(connection: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert complete rows (every dict with the same keys) in the connection's transaction.

    PostgreSQL: one COPY through the driver (binary rows, no statement or per-row parameter
    work); a unique violation is raised as SQLAlchemy's ``IntegrityError``, as an INSERT's
    would be. SQLite: an executemany of the INSERT."""
    if not rows:
        return
    raw = await connection.get_raw_connection() if connection.dialect.name == "postgresql" else None
    driver = raw.driver_connection if raw is not None else None
    # COPY only inside the transaction SQLAlchemy began: on a connection with none yet, the
    # driver would commit it on its own (the INSERT begins one, as any statement does). A
    # few rows go faster as one prepared INSERT than as COPY's extra round trip.
    if driver is None or len(rows) < COPY_FROM_ROWS or not driver.is_in_transaction():
        await connection.execute(insert(table), rows)
        return
    import asyncpg  # type: ignore[import-untyped]

    columns = list(rows[0])
    records = list(map(itemgetter(*columns), rows))
    as_json = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    if as_json:  # what the JSON type's bind processing would send: its text
        records = [_with_json_text(record, as_json) for record in records]
    try:
        await driver.copy_records_to_table(table.name, columns=columns, records=records)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from None


def _with_json_text(record: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    values = list(record)
    for i in positions:
        values[i] = None if values[i] is None else json.dumps(values[i])
    return tuple(values)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level so the 'begin' hook below controls transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erasure must not leave the old bytes in freed pages (see erasure/shred.py).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


READ_ONLY = "pdvault_read_only"
# Each statement its own transaction: no BEGIN or COMMIT round trips (the read routes).
PER_STATEMENT = "pdvault_per_statement"


def _sqlite_begin(conn: Any) -> None:
    # Every request writes an access event, so every transaction writes: take the write
    # lock up front instead of failing on a read-to-write upgrade under concurrency. Long
    # read-only work (verifying the log) asks for a plain snapshot instead, and the read
    # routes for none at all (the driver is in autocommit: each statement is atomic alone).
    options = conn.get_execution_options()
    if options.get(PER_STATEMENT):
        return
    if options.get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then it is left as it is).

    SQLite would create a database file 0644 (less the umask), readable by every local user,
    and gives its ``-wal`` and ``-shm`` files the database file's mode: an empty file is a
    valid empty database, so creating it first keeps all three the owner's alone.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # there already, or no such directory: SQLite reports that one itself
    os.close(fd)


# The schemes operators write, and the async driver each means. Anything else is refused at
# configuration time (config.py), so no driver SQLAlchemy would guess is ever imported.
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
SUPPORTED_URLS = "postgresql://user:password@host:port/database or sqlite+aiosqlite:///path"


def normalise_database_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` (and ``sqlite://``) with the async driver named;
    the rest of the URL is kept byte for byte. ``ValueError`` for any other scheme."""
    scheme, sep, rest = url.partition("://")
    driver = _DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        raise ValueError(f"unsupported database URL; use {SUPPORTED_URLS}")
    return f"{driver}://{rest}"


def describe_database_error(exc: BaseException, url: str) -> str:
    """One line naming why the database could not be used and what to change: the cause in
    words for the faults an operator meets first, else the exception's class. Never the
    password, never the server's message as such."""
    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL: say so without repeating it
        return "PDVAULT_DATABASE_URL is not a database URL; use " + SUPPORTED_URLS
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    fix = "; check PDVAULT_DATABASE_URL"
    chain = _causes(exc)
    codes = {getattr(e, "sqlstate", None) for e in chain} - {None}
    if "3D000" in codes:  # invalid_catalog_name
        return (
            f'database "{parsed.database}" does not exist on the PostgreSQL server at {where}: '
            f"create it (createdb {parsed.database}) or name an existing one in "
            "PDVAULT_DATABASE_URL"
        )
    if "28P01" in codes:  # invalid_password
        return (
            f'PostgreSQL at {where} refused the password of role "{parsed.username}": '
            "correct the password in PDVAULT_DATABASE_URL"
        )
    if "28000" in codes:  # invalid_authorization_specification
        unknown = any("does not exist" in str(e) for e in chain)
        why = "does not exist" if unknown else "is not admitted (pg_hba.conf)"
        return (
            f'PostgreSQL at {where} refused the connection: role "{parsed.username}" {why}; '
            "create the role or correct the user in PDVAULT_DATABASE_URL"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return (
            f"nothing is listening at {where} (connection refused): start PostgreSQL or "
            "correct the host and port in PDVAULT_DATABASE_URL"
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f'host "{parsed.host}" not found: correct the host in PDVAULT_DATABASE_URL'
    if any(isinstance(e, TimeoutError) for e in chain):
        return f"the database at {where} did not answer in time{fix}"
    if parsed.drivername.startswith("sqlite") and any(
        "unable to open database file" in str(e) for e in chain
    ):
        return (
            f"cannot open the SQLite file {parsed.database}: its folder must exist and be "
            "writable (PDVAULT_DATA_DIR or PDVAULT_DATABASE_URL)"
        )
    return f"database unavailable ({type(exc).__name__}){fix}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the DB-API error SQLAlchemy wraps (``orig``) and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "orig", None), current.__cause__, current.__context__])
    return seen


def make_engine(url: str, *, pool_size: int = 10, lock_timeout_ms: int = 5000) -> AsyncEngine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        # The pool as on PostgreSQL: below it, every request beyond the default five opened
        # a connection (a thread, five PRAGMAs) and closed it again (docs/performance.md).
        database = make_url(url).database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in url
        if not in_memory and not database.startswith("file:"):
            create_private_file(database)
        pooled = {} if in_memory else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_async_engine(url, connect_args={"timeout": 10}, **pooled)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={
            "timeout": 5,
            "command_timeout": 15,
            # A locked table (e.g. the access log) fails fast into a 503, never hangs.
            "server_settings": {"lock_timeout": str(lock_timeout_ms)},
        },
    )


class VaultSession(Session):
    """The sync session behind every AsyncSession. The access log hooks its chain slots onto
    this class (``audit/slots.py``) when it makes its slot pool."""


def make_sessionmaker(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``. ``read_only`` ones (the read routes) run each statement as its
    own transaction: no BEGIN, no COMMIT, no lock (PostgreSQL: AUTOCOMMIT; SQLite: the
    driver's autocommit, no BEGIN emitted), so they see committed data statement by statement,
    as READ COMMITTED does. Code that writes in such a session starts its transaction with
    ``writable(session)``."""
    bind = engine
    if read_only:
        options: dict[str, Any] = {READ_ONLY: True, PER_STATEMENT: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        bind = engine.execution_options(**options)
    return async_sessionmaker(
        bind, expire_on_commit=False, autoflush=False, sync_session_class=VaultSession
    )


async def writable(session: AsyncSession) -> None:
    """Begin the session's next transaction as a writing one, whatever its sessionmaker.

    Call it right after a commit or rollback; inside a transaction it changes nothing."""
    if not session.in_transaction():
        options: dict[str, Any] = {READ_ONLY: False, PER_STATEMENT: False}
        bind = session.bind
        if bind is not None and bind.dialect.name == "postgresql":
            # Back from a read session's AUTOCOMMIT: a real transaction, at the server's level.
            options["isolation_level"] = bind.dialect.default_isolation_level
        await session.connection(execution_options=options)


async def begin_writing(session: AsyncSession) -> None:
    """End the session's read transaction, which wrote nothing (so its commit keeps no work),
    and begin a writing one (``writable``)."""
    if session.in_transaction():
        await session.commit()
    await writable(session)


async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with maker() as session:
        yield session


@asynccontextmanager
async def one_off_session(url: str) -> AsyncIterator[AsyncSession]:
    """A session on an engine of its own (one connection), disposed after: for a command-line
    step that is not a keyed job (``pdvault.jobs``)."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def has_table(conn: AsyncConnection, name: str) -> bool:
    """Whether the database holds the table yet (it may be older than the migration)."""

    def look(sync_conn: Any) -> bool:
        return bool(inspect(sync_conn).has_table(name))

    return await conn.run_sync(look)
