"""Slowing token guessing: failed bearer authentications counted per client address.

A client address that failed ``limit`` times within the last ``window`` seconds is over the
limit: each further token from it that does not authenticate is answered 429 with
``Retry-After`` (and counted, so a guesser that keeps going stays over), instead of 401
(``deps.get_actor``). A token that resolves to a working holder is never refused for the
count: many clients share an address behind a NAT or a proxy, and a guesser must slow only
itself (a 256-bit token cannot be guessed at any rate anyway). The window slides: the address
is under the limit again as soon as the oldest counted failure leaves it.

Counts live in this process's memory (``max_clients`` addresses at most, the least recently
failing evicted first), so with W workers an address gets at most W times the allowance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any


class AuthFailureLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0 or max_clients < 1:
            raise ValueError("limit, window and max_clients must be positive")
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self.clock = clock
        # address -> times of its most recent failures (at most ``limit``), oldest first
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def clear(self) -> None:
        """Forget every failure (the app serves anew: a test between two others)."""
        self._failures.clear()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try a token again; None when it may now."""
        times = self._failures.get(client)
        if times is None or len(times) < self.limit:
            return None
        wait = times[0] + self.window - self.clock()
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def failed(self, client: str) -> None:
        """Count one failed authentication from ``client``."""
        now = self.clock()
        times = self._failures.get(client)
        if times is None:
            times = deque(maxlen=self.limit)
            self._failures[client] = times
            if len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(client)
        while times and times[0] + self.window <= now:
            times.popleft()
        times.append(now)

    def clients(self) -> Iterable[str]:
        return iter(self._failures)


def client_address(
    peer: tuple[str, int] | None, forwarded_for: Iterable[bytes], trusted_hops: int
) -> str:
    """The address failures are counted against.

    With ``trusted_hops`` = 0 (the default) it is the TCP peer and ``X-Forwarded-For`` is
    ignored: any client can write that header. With n trusted proxies in front, it is the n-th
    address from the right of ``X-Forwarded-For`` (each proxy appends the peer it saw), or the
    leftmost when the header is shorter.
    """
    fallback = peer[0] if peer else "unknown"
    if trusted_hops <= 0:
        return fallback
    hops = [
        part.strip()
        for value in forwarded_for
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]
    if not hops:
        return fallback
    return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]


def scope_client_address(scope: Any, trusted_hops: int) -> str:
    """``client_address`` of an ASGI scope (or a Starlette request's ``scope``)."""
    peer = scope.get("client")
    forwarded: list[bytes] = []
    if trusted_hops > 0:
        forwarded = [v for k, v in scope.get("headers") or [] if k.lower() == b"x-forwarded-for"]
    return client_address(tuple(peer) if peer else None, forwarded, trusted_hops)
