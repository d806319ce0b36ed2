"""Rewrap throughput alone, in this process, on a fresh PostgreSQL or SQLite database.

Loads ``--size`` sealed customers (bench/perf/data.py's fast path), then ``--rounds`` times:
rotate the keyring (a new primary) and time ``keys.rotation.rewrap`` moving every data key to
it (keys/s, and this process's CPU per key). No servers, no reads: for comparing two versions
of the rewrap on the same machine in one sitting (run one, then the other, then again)::

    .venv/bin/python bench/bulk_probe.py --engine postgresql --size 100000 --rounds 3
    PYTHONPATH=/tmp/other/src .venv/bin/python bench/bulk_probe.py ...   # another version
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from audit_harness.infra import create_database, drop_database
from perf.data import load_customers

from pdvault.crypto.keyring import new_keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.db import make_engine, make_sessionmaker
from pdvault.keys.rotation import rewrap


async def _rounds(url: str, keyring_json: str, rounds: int, batch: int, size: int) -> None:
    keys = LocalKeyProvider.from_json(keyring_json)
    engine = make_engine(url, pool_size=2)
    try:
        sessions = make_sessionmaker(engine)
        for n in range(rounds):
            keys._keyring = keys._keyring.rotated()  # a probe: no keyring file to watch
            started, cpu = time.perf_counter(), time.process_time()
            moved = await rewrap(sessions, keys, batch=batch)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"round {n + 1}: {moved:,} keys in {seconds:.2f} s = {moved / seconds:,.0f} keys/s"
                f"; this process's CPU {1e6 * cpu / max(moved, 1):.1f} us/key"
                f"; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
            if moved < size:
                raise SystemExit(f"moved {moved}, expected {size}")
    finally:
        await engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engine", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PDVAULT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=2000)
    a = p.parse_args()
    keyring_json = new_keyring().to_json()
    with tempfile.TemporaryDirectory(prefix="pdvault-bulk-") as tmp:
        db = create_database(a.engine, Path(tmp), a.postgres_url)
        try:
            loaded = load_customers(db, keyring_json, 0, a.size, secrets.token_hex(3), None)
            print(f"loaded {a.size:,} customers in {loaded.seconds:.1f} s")
            asyncio.run(_rounds(db.url, keyring_json, a.rounds, a.batch, a.size))
        finally:
            drop_database(db)


if __name__ == "__main__":
    main()
