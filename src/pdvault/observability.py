"""Request ids, JSON logs and Prometheus metrics. Labels and log fields never carry values."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# A caller's X-Request-ID is kept only as a UUID, hyphenated or as the 32 hex digits pdvault
# generates: it lands in the permanent access log, and free text there could carry a name.
_UUID_REQUEST_ID = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9A-Fa-f]{32}"
)


# A random (version 4) UUID as 32 hex digits: the version and variant bits set over 128 random
# bits, as ``uuid.uuid4().hex`` would give, at a third of its cost (one per request).
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    return "%032x" % ((int.from_bytes(os.urandom(16)) & _UUID4_CLEAR) | _UUID4_SET)


def sane_request_id(candidate: str | None) -> str:
    """The caller's request id when it is a UUID, else a fresh one."""
    if candidate and _UUID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key in ("method", "route", "status", "duration_ms", "error"):
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("pdvault")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


# Distinct (route, method, status) triples whose metric children are kept at hand: routes and
# statuses are the app's own, methods the few the HTTP parser accepts; a bound all the same.
_KEPT_REQUEST_SERIES = 2048


class Metrics:
    """Per-app registry so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.reset()

    def observe_request(self, route: str, method: str, status: int, elapsed: float) -> None:
        """One request counted and timed. The labelled children are looked up once per series
        and kept (``labels()`` takes a lock and checks its arguments: most of the cost)."""
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            if len(self._request_series) < _KEPT_REQUEST_SERIES:
                self._request_series[key] = series
        series[0].inc()
        series[1].observe(elapsed)

    def reset(self) -> None:
        """Every figure back to nothing, in a new registry (the pool gauges too: watch again)."""
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pdvault_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pdvault_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.access_events = Counter(
            "pdvault_access_events_total",
            "Access events written, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.denials = Counter(
            "pdvault_denials_total", "Denied accesses by reason", ["reason"], registry=self.registry
        )

        # Tamper signals found outside the log's own verification (no value, no id in a label).
        self.integrity_failures = Counter(
            "pdvault_integrity_failures_total",
            "Stored data found tampered on the way out, by kind (blind_index: a search key's "
            "index led to a row whose value is another)",
            ["kind"],
            registry=self.registry,
        )
        # No address in any label: the counts say how much guessing, not who.
        self.auth_failures = Counter(
            "pdvault_auth_failures_total",
            "Failed bearer authentications, by kind (malformed, unknown, or the lapse reason)",
            ["kind"],
            registry=self.registry,
        )
        self.auth_throttled = Counter(
            "pdvault_auth_throttled_total",
            "Requests refused 429 because their client address failed authentication too often",
            registry=self.registry,
        )

    def watch_pool(self, pool: Any) -> None:
        """Database connection pool gauges, read at scrape time."""
        size = Gauge("pdvault_db_pool_size", "Connections the pool keeps", registry=self.registry)
        in_use = Gauge(
            "pdvault_db_pool_checked_out",
            "Connections lent to requests right now",
            registry=self.registry,
        )
        overflow = Gauge(
            "pdvault_db_pool_overflow", "Connections beyond the pool size", registry=self.registry
        )
        size.set_function(lambda: float(_pool_stat(pool, "size")))
        in_use.set_function(lambda: float(_pool_stat(pool, "checkedout")))
        overflow.set_function(lambda: float(max(_pool_stat(pool, "overflow"), 0)))


def _pool_stat(pool: Any, name: str) -> int:
    method = getattr(pool, name, None)
    try:
        return int(method()) if callable(method) else 0
    except Exception:  # a pool kind without the figure
        return 0
