"""The app's start-up objects leave the garbage collector's generations once per process
(``main.settle_heap``), so full collections under load walk only what requests allocate."""

from __future__ import annotations

import gc
from typing import Any

import httpx

from pdvault.main import settle_heap


async def test_the_started_app_is_frozen_once_per_process(
    app: Any, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the modules, routes and runtime, not a handful
    # Another lifespan in the same process (as every test runs one) freezes nothing more:
    # what the tests allocate stays collectable.
    garbage = [[object()] for _ in range(1000)]
    settle_heap()
    assert gc.get_freeze_count() == frozen
    del garbage
