"""What the auditor's room needs beyond the API's own queries (audit/service.py): the
filter form read into the API's ``EventFilter``, the CSV of a filtered view, the principals'
names for a page of events, and the one call that runs a verification."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pdvault.audit.schemas import EventOut
from pdvault.audit.service import EventFilter, event_pages
from pdvault.audit.verify import VerifyResult, verify_log
from pdvault.console.i18n import N_, SHOP_ZONE
from pdvault.middleware import CONSOLE_REQUEST_ID_PREFIX
from pdvault.policy import Operation, Purpose, Role
from pdvault.principals.models import Principal
from pdvault.runtime import Runtime

# As the API's filters (audit/router.py): names only; anything else matches nothing there and
# is refused here, before any query.
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
FILTER_FIELDS = (
    "since",
    "until",
    "principal_id",
    "role",
    "action",
    "outcome",
    "purpose",
    "customer_id",
)
ROLES = tuple(r.value for r in Role)
OUTCOMES = ("allowed", "denied")
PURPOSES = tuple(p.value for p in Purpose)
# Offered in the action field's list; any name is accepted.
ACTIONS = tuple(
    sorted(
        {o.value for o in Operation}
        | {"auth.token", "console.sign_in", "console.sign_out", "console.sign_out_everywhere"}
    )
)
PAGE_SIZE = 50


@dataclass
class FilterForm:
    """The filter form as sent (to show it again) and as the API's ``EventFilter``."""

    values: dict[str, str]
    flt: EventFilter
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **extra: str) -> dict[str, str]:
        """The filters (and ``extra``) as query parameters for a link: ids, names, times."""
        return {**{k: v for k, v in self.values.items() if v}, **extra}


def _local_time(raw: str) -> datetime:
    """A ``datetime-local`` field (the shop's time, no zone) as an aware time."""
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHOP_ZONE)
    return parsed


def read_filters(params: Mapping[str, str]) -> FilterForm:
    """The console's filter fields, checked one by one; an invalid one is named in
    ``errors`` (with a message to translate) and the page shows no events."""
    values = {name: (params.get(name) or "").strip()[:64] for name in FILTER_FIELDS}
    errors: dict[str, str] = {}
    kw: dict[str, object] = {}
    for name in ("since", "until"):
        if values[name]:
            try:
                kw[name] = _local_time(values[name])
            except ValueError:
                errors[name] = N_("Not a date and time.")
    for name in ("principal_id", "customer_id"):
        if values[name]:
            try:
                kw[name] = uuid.UUID(values[name])
            except ValueError:
                errors[name] = N_("Not an id.")
    for name, allowed in (("role", ROLES), ("outcome", OUTCOMES), ("purpose", PURPOSES)):
        if values[name]:
            if values[name] in allowed:
                kw[name] = values[name]
            else:
                errors[name] = N_("Not one of the listed values.")
    if values["action"]:
        if _NAME.fullmatch(values["action"]):
            kw["action"] = values["action"]
        else:
            errors["action"] = N_("Not an action name.")
    if "since" in kw and "until" in kw and kw["since"] >= kw["until"]:  # type: ignore[operator]
        errors["until"] = N_("The end must come after the start.")
    return FilterForm(values, EventFilter(**kw), errors)  # type: ignore[arg-type]


def from_console(event: EventOut) -> bool:
    """Whether the event was written by a console page (its request id's marker)."""
    return event.request_id.startswith(CONSOLE_REQUEST_ID_PREFIX)


async def principal_names(
    session: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """The names of the principals a page of events names (staff and systems, not customers)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(Principal.id, Principal.name).where(Principal.id.in_(wanted))
    return {row[0]: row[1] for row in await session.execute(query)}


CSV_COLUMNS = (
    "seq",
    "at",
    "channel",
    "request_id",
    "principal_id",
    "role",
    "action",
    "customer_id",
    "fields",
    "purpose",
    "basis",
    "outcome",
    "reason",
    "token_id",
    "target_principal_id",
    "target_token_id",
    "writer_id",
    "writer_seq",
    "hash",
)
# A cell a spreadsheet would run as a formula is written as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(event: EventOut) -> list[str]:
    data = event.model_dump()
    data["channel"] = "console" if from_console(event) else "api"
    return [_cell(data[c]) for c in CSV_COLUMNS]


async def csv_lines(
    sessions: async_sessionmaker[AsyncSession], flt: EventFilter
) -> AsyncIterator[bytes]:
    """The filtered view as CSV (UTF-8, a header line, times in UTC), page by page through
    the API's own query (``audit.service.event_pages``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue().encode("utf-8")
    async for items in event_pages(sessions, flt):
        out.seek(0)
        out.truncate()
        writer.writerows(csv_row(e) for e in items)
        yield out.getvalue().encode("utf-8")


async def run_verify(runtime: Runtime) -> VerifyResult:
    """The console's one call into verification: every chain, writer and checkpoint."""
    return await verify_log(runtime.engine, runtime.audit.signer.public_raw)
