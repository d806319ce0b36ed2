"""The legal officer's desk (issue 19.2): reading the form of a judicial request.

The form's fields are checked here, each with a message beside it, before the API's own body
(``JudicialRequestIn``) is built from them; what the service then refuses (an unknown
customer, an expiry already past) is read back onto the same fields (``service_errors``).
Every message is a gettext message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args

from pydantic import ValidationError

from pdvault.console.i18n import N_, SHOP_ZONE
from pdvault.customers.schemas import FieldName
from pdvault.judicial.schemas import AuthorityType, JudicialRequestIn

AUTHORITY_TYPES: tuple[str, ...] = get_args(AuthorityType)
FIELDS: tuple[str, ...] = get_args(FieldName)
STATUSES = ("submitted", "approved", "rejected")

AUTHORITY_LABELS = {
    "procuracy": N_("People's Procuracy"),
    "court": N_("Court"),
    "police_investigation": N_("Police investigation agency"),
}
JUDICIAL_STATUS_LABELS = {
    "submitted": N_("waiting for approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
}

REQUIRED = N_("Required.")
TOO_LONG = N_("Too long: at most %(count)s characters.")
NOT_LISTED = N_("Not one of the listed values.")
BAD_DATE = N_("A date is written YYYY-MM-DD, for example 2026-11-30.")
NO_FIELD = N_("Choose at least one field.")
NO_CUSTOMER = N_("Write at least one customer id, one per line.")
IDS_MAX_CHARS = 2000  # about 50 ids: a larger request goes through the API
TOO_MANY_IDS = N_(
    "At most 2,000 characters here (about 50 ids); record a larger request through the API."
)
NOT_AN_ID = N_("Line %(line)s is not a customer id.")
UNKNOWN_CUSTOMER = N_("No customer has the id on line %(line)s.")
PAST = N_("The request must be valid until today or a later day.")

# The form's text fields and their longest value (the API's own limits).
TEXT_LIMITS = {
    "authority_name": 200,
    "document_number": 100,
    "legal_basis": 2000,
    "case_reference": 200,
}
_ID_SPLIT = re.compile(r"[\s,;]+")


@dataclass
class Message:
    """A message beside a field: a catalogue message and what fills it in."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class FilingForm:
    """What the form sent, kept to draw it again, and what is wrong with it."""

    values: dict[str, str]
    fields: list[str]
    errors: dict[str, Message]
    body: JudicialRequestIn | None = None
    id_lines: list[int] = field(default_factory=list)  # the form's line of each id sent


def end_of_shop_day(day: date) -> datetime:
    """The end of ``day`` in the shop's zone (the next day's 00:00 there), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), SHOP_ZONE).astimezone(UTC)


def through(valid_until: datetime) -> datetime | None:
    """The last moment of the shop day a request is valid through, when it ends at the shop's
    midnight (as the console files it): shown as "the end of <day>". Else None: the exact
    time is shown (a request filed through the API may end at any time)."""
    local = valid_until.astimezone(SHOP_ZONE)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        return None
    return valid_until - timedelta(microseconds=1)


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def read_filing(form: Mapping[str, str]) -> FilingForm:
    """The form of a new judicial request, checked field by field."""
    names = ("authority_type", *TEXT_LIMITS, "document_date", "customer_ids", "valid_until")
    # A textarea's line breaks arrive as CRLF; they are kept as the API keeps text: LF.
    values = {name: form.get(name, "").replace("\r\n", "\n").strip() for name in names}
    chosen = [name for name in FIELDS if form.get(f"field_{name}")]
    errors: dict[str, Message] = {}
    if values["authority_type"] not in AUTHORITY_TYPES:
        errors["authority_type"] = Message(NOT_LISTED)
    for name, limit in TEXT_LIMITS.items():
        if not values[name]:
            errors[name] = Message(REQUIRED)
        elif len(values[name]) > limit:
            errors[name] = Message(TOO_LONG, {"count": limit})
    document_date = _date(values["document_date"])
    if not values["document_date"]:
        errors["document_date"] = Message(REQUIRED)
    elif document_date is None:
        errors["document_date"] = Message(BAD_DATE)
    last_day = _date(values["valid_until"])
    if not values["valid_until"]:
        errors["valid_until"] = Message(REQUIRED)
    elif last_day is None:
        errors["valid_until"] = Message(BAD_DATE)
    if not chosen:
        errors["fields"] = Message(NO_FIELD)
    ids: list[uuid.UUID] = []
    lines: list[int] = []
    for number, line in enumerate(values["customer_ids"].splitlines(), start=1):
        for part in _ID_SPLIT.split(line.strip()):
            if not part:
                continue
            try:
                ids.append(uuid.UUID(part))
                lines.append(number)
            except ValueError:
                errors.setdefault("customer_ids", Message(NOT_AN_ID, {"line": number}))
    if len(form.get("customer_ids", "")) > IDS_MAX_CHARS or "customer_ids" not in form:
        # The browser always sends the textarea: a form without it held more than any form
        # takes (``web.read_form`` drops it), or a control character.
        errors["customer_ids"] = Message(TOO_MANY_IDS)
    elif not ids and "customer_ids" not in errors:
        errors["customer_ids"] = Message(NO_CUSTOMER)
    result = FilingForm(values, chosen, errors, id_lines=lines)
    if errors or document_date is None or last_day is None:
        return result
    try:
        result.body = JudicialRequestIn(
            authority_type=values["authority_type"],
            authority_name=values["authority_name"],
            document_number=values["document_number"],
            document_date=document_date,
            legal_basis=values["legal_basis"],
            case_reference=values["case_reference"],
            customer_ids=ids,
            fields=chosen,
            valid_until=end_of_shop_day(last_day),
        )
    except ValidationError as invalid:
        # What the checks above let through and the API's body does not take (more ids
        # than it takes at once, a text the API trims to nothing).
        for error in invalid.errors():
            name = str(error["loc"][0]) if error["loc"] else "customer_ids"
            errors.setdefault(name, Message(N_("Not valid.")))
    return result


def service_errors(problem_errors: Any, id_lines: list[int]) -> dict[str, Message]:
    """The service's refusal of a filing (422 with ``errors``) as the form's messages."""
    errors: dict[str, Message] = {}
    for error in problem_errors or []:
        loc = [str(p) for p in error.get("loc", [])] if isinstance(error, Mapping) else []
        if "customer_ids" in loc:
            index = loc[-1]
            line = id_lines[int(index)] if index.isdigit() and int(index) < len(id_lines) else 1
            errors.setdefault("customer_ids", Message(UNKNOWN_CUSTOMER, {"line": line}))
        elif "valid_until" in loc:
            errors["valid_until"] = Message(PAST)
        elif loc:
            errors.setdefault(loc[-1], Message(N_("Not valid.")))
    return errors
