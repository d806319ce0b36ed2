"""The DPO's desk, breaches and notices (issue 19.1): what its pages compute.

- Reading the breach form: a shop-zone time, the categories ticked, the scope and the named
  customers' ids, checked here beside each field; what the API's body model (``BreachIn``)
  refuses is read back onto the same fields.
- The authority deadline as a person reads it: time left, or how late, in days, hours and
  minutes.
- The subject fan-out as the console runs it: the same service steps as the API's
  ``POST /v1/breaches/{id}/subject-notifications`` (``start_fanout`` logs the event, then one
  committed transaction per batch, then ``finish_fanout``), but after the answer is sent
  (a background task of the response), so that the breach's page can show the outbox filling.
  The runs of this process are kept in ``FanoutRuns`` (``app.state``: running or failed, and
  the erased customers skipped); what the page counts is the outbox itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from pdvault.auth.principal import Actor
from pdvault.console.i18n import N_, SHOP_ZONE
from pdvault.console.web import LONG_FIELDS
from pdvault.errors import is_storage_fault
from pdvault.governance.breach_schemas import BreachIn
from pdvault.governance.breaches import BreachService, FanoutStep, run_fanout_batches
from pdvault.governance.models import Breach
from pdvault.runtime import Runtime

log = logging.getLogger(__name__)

CATEGORIES = ("full_name", "phone", "email", "address", "documents")
CATEGORY_LABELS = {
    "full_name": N_("Full name"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "address": N_("Address"),
    "documents": N_("Transaction documents"),
}
# The most customers the console's form names (one id a line); more go through the API.
MAX_FORM_IDS = 500
IDS_MAX_CHARS = LONG_FIELDS["customer_ids"]  # what the form's reading keeps: 500 ids

REQUIRED = N_("Required.")
BAD_TIME = N_("Write a date and a time, for example 2026-12-05 14:30.")
IN_FUTURE = N_("May not be in the future.")
BEFORE_DETECTION = N_("May not be before the breach was detected.")
SUMMARY_CONTACT = N_("Must not hold an email address or a phone number.")
SUMMARY_LENGTH = N_("Required, at most 2,000 characters.")
NO_CATEGORY = N_("Tick at least one kind of data.")
NO_SCOPE = N_("Choose all customers, or name them.")
NO_IDS = N_("Name at least one customer, one id a line.")
BAD_ID = N_("Line %(line)s is not a customer id.")
UNKNOWN_ID = N_("Line %(line)s: no such customer.")
TOO_MANY_IDS = N_("At most %(count)s customers here; name more through the API.")
TOO_LONG = N_("At most %(count)s characters.")


@dataclass
class FieldError:
    """A message beside a field: a catalogue message and its values."""

    message: str
    values: dict[str, Any] = field(default_factory=dict)


Errors = dict[str, FieldError]


def shop_time(raw: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-12-05T14:30``, seconds optional) read in the
    shop's zone, as an aware time; None when it is not one."""
    text = raw.strip().replace(" ", "T")
    if not text or len(text) > 19:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return None
    return moment.replace(tzinfo=SHOP_ZONE)


def shop_input(moment: datetime | None) -> str:
    """A time as a ``datetime-local`` input shows it, in the shop's zone."""
    if moment is None:
        return ""
    return moment.astimezone(SHOP_ZONE).strftime("%Y-%m-%dT%H:%M")


@dataclass
class BreachForm:
    """The new-breach form as sent: the values to draw it again, the body for the API."""

    values: dict[str, Any]
    errors: Errors
    body: BreachIn | None = None
    id_lines: list[int] = field(default_factory=list)  # the form's line of each id sent


def read_breach_form(form: Mapping[str, str], raw_ids: str | None) -> BreachForm:
    """The form's fields checked one by one, then as the API's body."""
    values: dict[str, Any] = {
        "detected_at": form.get("detected_at", "").strip(),
        "summary": form.get("summary", "").strip(),
        "categories": [c for c in CATEGORIES if form.get(f"category_{c}") == "on"],
        "scope": form.get("scope", ""),
        "customer_ids": raw_ids or "",
    }
    errors: Errors = {}
    detected = shop_time(values["detected_at"])
    if not values["detected_at"]:
        errors["detected_at"] = FieldError(REQUIRED)
    elif detected is None:
        errors["detected_at"] = FieldError(BAD_TIME)
    if not values["summary"]:
        errors["summary"] = FieldError(SUMMARY_LENGTH)
    if not values["categories"]:
        errors["categories"] = FieldError(NO_CATEGORY)
    ids: list[uuid.UUID] = []
    lines: list[int] = []
    if values["scope"] == "named":
        if raw_ids is None:
            errors["customer_ids"] = FieldError(TOO_LONG, {"count": f"{IDS_MAX_CHARS:,}"})
        else:
            for number, line in enumerate(raw_ids.splitlines(), start=1):
                text = line.strip().strip(",;").strip()
                if not text:
                    continue
                try:
                    ids.append(uuid.UUID(text))
                    lines.append(number)
                except ValueError:
                    errors.setdefault("customer_ids", FieldError(BAD_ID, {"line": number}))
            if not ids and "customer_ids" not in errors:
                errors["customer_ids"] = FieldError(NO_IDS)
            elif len(ids) > MAX_FORM_IDS:
                errors["customer_ids"] = FieldError(TOO_MANY_IDS, {"count": MAX_FORM_IDS})
    elif values["scope"] != "all":
        errors["scope"] = FieldError(NO_SCOPE)
    if errors or detected is None:
        return BreachForm(values, errors)
    try:
        body = BreachIn.model_validate(
            {
                "detected_at": detected,
                "summary": values["summary"],
                "data_categories": values["categories"],
                **({"all_customers": True} if values["scope"] == "all" else {"customer_ids": ids}),
            }
        )
    except ValidationError as invalid:
        for error in invalid.errors():
            name = str(error["loc"][0]) if error["loc"] else "scope"
            if name == "summary":
                # BreachIn's own check (a ValueError) is the contact values; else its length.
                contact = error["type"] == "value_error"
                errors["summary"] = FieldError(SUMMARY_CONTACT if contact else SUMMARY_LENGTH)
            elif name == "detected_at":
                errors["detected_at"] = FieldError(BAD_TIME)
            elif name == "data_categories":
                errors["categories"] = FieldError(NO_CATEGORY)
            else:
                errors["scope"] = FieldError(NO_SCOPE)
        return BreachForm(values, errors)
    return BreachForm(values, errors, body, lines)


def service_errors(problem_errors: list[Any], id_lines: list[int]) -> Errors:
    """The service's refusal of a breach or an authority notification, beside the fields:
    a time in the future or before the detection, a named customer that does not exist."""
    errors: Errors = {}
    for error in problem_errors:
        loc = [str(part) for part in (error.get("loc") or [])]
        msg = str(error.get("msg", ""))
        if "customer_ids" in loc and loc[-1].isdigit():
            index = int(loc[-1])
            line = id_lines[index] if index < len(id_lines) else index + 1
            errors.setdefault("customer_ids", FieldError(UNKNOWN_ID, {"line": line}))
        elif loc and loc[-1] in ("detected_at", "notified_at"):
            message = BEFORE_DETECTION if "before" in msg else IN_FUTURE
            errors[loc[-1]] = FieldError(message)
    return errors


@dataclass
class AuthorityForm:
    values: dict[str, str]
    errors: Errors
    notified_at: datetime | None = None


def read_authority_form(form: Mapping[str, str]) -> AuthorityForm:
    values = {k: form.get(k, "").strip() for k in ("notified_at", "authority", "reference")}
    errors: Errors = {}
    notified = shop_time(values["notified_at"])
    if not values["notified_at"]:
        errors["notified_at"] = FieldError(REQUIRED)
    elif notified is None:
        errors["notified_at"] = FieldError(BAD_TIME)
    for name in ("authority", "reference"):
        if not values[name]:
            errors[name] = FieldError(REQUIRED)
    return AuthorityForm(values, errors, notified)


# -- the authority deadline as a person reads it -------------------------------------------


@dataclass(frozen=True)
class Span:
    """A stretch of time in its two largest units: ``days``+``hours`` or ``hours``+``minutes``."""

    days: int
    hours: int
    minutes: int


def span(delta: timedelta) -> Span:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return Span(days, hours, minutes)


@dataclass(frozen=True)
class Deadline:
    """``state``: ``left`` (time to go), ``late`` (past due, not notified), ``on_time`` or
    ``notified_late`` (notified, ``span`` after the deadline for the latter)."""

    state: str
    span: Span
    due_at: datetime


def deadline(b: Any, now: datetime) -> Deadline:
    due: datetime = b.authority_due_at
    notified: datetime | None = b.authority_notified_at
    if notified is not None:
        if notified > due:
            return Deadline("notified_late", span(notified - due), due)
        return Deadline("on_time", span(due - notified), due)
    if now > due:
        return Deadline("late", span(now - due), due)
    return Deadline("left", span(due - now), due)


# -- the subject fan-out, run after the answer ---------------------------------------------


@dataclass
class FanoutRun:
    """One fan-out of this process: whether it runs or failed, and what the outbox cannot
    tell (the named customers skipped because they were erased). What it queued is counted
    from the outbox itself."""

    skipped_erased: int = 0
    running: bool = True
    failed: bool = False


class FanoutRuns:
    """The fan-outs this process runs or ran, by breach (``app.state``)."""

    def __init__(self) -> None:
        self.by_breach: dict[uuid.UUID, FanoutRun] = {}

    def running(self, breach_id: uuid.UUID) -> bool:
        run = self.by_breach.get(breach_id)
        return run is not None and run.running

    def begin(self, breach_id: uuid.UUID) -> FanoutRun | None:
        """A new run, or None when one is running already for this breach."""
        if self.running(breach_id):
            return None
        run = FanoutRun()
        self.by_breach[breach_id] = run
        return run


def fanout_runs(state: Any) -> FanoutRuns:
    runs = getattr(state, "breach_fanouts", None)
    if not isinstance(runs, FanoutRuns):
        runs = FanoutRuns()
        state.breach_fanouts = runs
    return runs


async def run_fanout(runtime: Runtime, actor: Actor, breach_id: uuid.UUID, run: FanoutRun) -> None:
    """The API's fan-out (``breaches.run_fanout_batches``) after its first step, counting the
    erased customers it skips as it goes. The request that started it already logged
    ``breach.notify_subjects`` (``BreachService.start_fanout``)."""
    try:
        async with runtime.sessions() as session:
            service = BreachService(runtime, session, actor)
            breach = await session.get(Breach, breach_id)
            if breach is None:  # pragma: no cover - the request found it a moment ago
                run.failed = True
                return

            def skipped(step: FanoutStep) -> None:
                run.skipped_erased += step.skipped_erased

            await run_fanout_batches(
                service, session, breach, runtime.settings.breach_fanout_batch, skipped
            )
    except Exception as exc:
        # As the last resort logs a request's error (middleware): the breach's id and the
        # error's type, a stack trace unless storage failed (a database error's text holds the
        # statement's parameters: the customers' ids). A re-run adds only what is missing.
        log.error(
            "breach fan-out stopped",
            extra={"breach_id": str(breach_id), "error": type(exc).__name__},
            exc_info=not is_storage_fault(exc),
        )
        run.failed = True
    finally:
        run.running = False
