"""Do these keys belong to this database? Checked before serving, so a keyring swapped for
another valid one (a restored backup of the wrong vault, a fresh ``keys create``) is refused
in one line instead of serving 503s on every read while signing a second, foreign history.
"""

from __future__ import annotations

from sqlalchemy import select

from pdvault.audit.ledger import AuditWriter
from pdvault.audit.signing import LogSigner
from pdvault.config import Settings
from pdvault.crypto.envelope import DecryptionError
from pdvault.crypto.keyring import KeyringError
from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.db import make_engine, make_sessionmaker
from pdvault.keys.holders import HOLDERS
from pdvault.keys.rotation import key_usage


async def check_keys_match(settings: Settings, keys: KeyProvider) -> None:
    """Raise ``KeyringError`` when the keys are not the ones this database was written with:
    the log's last writer was signed by another key, a key version still wrapping data keys
    is missing, or a held version does not unwrap one of its data keys."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            last_key_id = await session.scalar(
                select(AuditWriter.key_id)
                .order_by(AuditWriter.registered_at.desc(), AuditWriter.writer_id)
                .limit(1)
            )
            ours = LogSigner(keys.signing_seed()).key_id
            if last_key_id is not None and last_key_id != ours:
                raise KeyringError(
                    f"keys do not match this database: its access log is signed by key "
                    f"{last_key_id}, these keys sign as {ours}; restore the keyring in use"
                )
            usage = await key_usage(session)
            held = set(keys.versions())
            for version in sorted(usage.by_version):
                if version not in held:
                    raise KeyringError(
                        f"keys do not match this database: key version {version} wraps "
                        f"{usage.total(version)} data keys but is not held; restore the "
                        "keyring in use"
                    )
                for holder in HOLDERS:
                    m = holder.model
                    row = (
                        await session.execute(
                            select(m.id, m.wrapped_dek)
                            .where(m.kek_version == version, m.wrapped_dek.is_not(None))
                            .limit(1)
                        )
                    ).first()
                    if row is None:
                        continue
                    try:
                        await keys.unwrap_data_key(WrappedKey(version, bytes(row[1])), row[0])
                    except DecryptionError:
                        raise KeyringError(
                            f"keys do not match this database: key version {version} does "
                            f"not unwrap its data keys ({holder.name}); restore the keyring "
                            "in use"
                        ) from None
                    break
            await session.rollback()
    finally:
        await engine.dispose()
