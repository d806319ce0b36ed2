"""The administrator's desk (issue 19.3): what its forms check before the services see them,
and the figures of the keys page. The pages are in ``admindesk_router``.

A form's values are checked by the API's own request models (``PrincipalIn``, ``TokenIn``,
``PartnerIn``, ``GrantIn``); their errors become gettext messages beside the form's fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from pdvault.console.i18n import N_, SHOP_ZONE
from pdvault.customers.schemas import FieldName
from pdvault.partners.schemas import GrantIn, PartnerPurpose

# The fields a grant may name (the customer's personal fields), in the matrix's order.
GRANT_FIELDS: tuple[str, ...] = tuple(get_args(FieldName))
GRANT_MODES = ("plain", "masked")
PARTNER_PURPOSES: tuple[str, ...] = tuple(get_args(PartnerPurpose))

NAME_MESSAGE = N_("Enter a name of 1 to 200 characters.")
CHOICE_MESSAGE = N_("Not one of the listed values.")
PARTNER_LINK_MESSAGE = N_("Choose a partner for the partner role, and only for it.")
DAYS_MESSAGE = N_("A whole number of days from 1 to 3650.")
CONTRACT_MESSAGE = N_("Enter the contract reference, 1 to 200 characters.")
GRANT_FIELDS_MESSAGE = N_("Choose plain or masked for at least one field.")
DATE_MESSAGE = N_("Not a date.")
WINDOW_MESSAGE = N_("The last day must not be before the first day.")


class Invalid(Exception):
    """A form's values refused before any work: a message per field (gettext messages)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("invalid form")
        self.fields = dict(fields)


M = TypeVar("M", bound=BaseModel)


def checked(
    model: type[M], data: Mapping[str, Any], messages: Mapping[str, str], whole: str = ""
) -> M:
    """``data`` as the API's request ``model``, or ``Invalid`` naming the form's fields
    (``messages``: the message of each field, ``""``'s for the others; an error of the whole
    model, such as a rule between two fields, is shown beside the field ``whole``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = loc[0] if loc else ""
            fields[name or whole] = messages.get(name, messages.get("", CHOICE_MESSAGE))
        raise Invalid(fields) from None


def parse_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def grant_in(form: Mapping[str, str]) -> GrantIn:
    """The matrix's form as the API's ``GrantIn``: a radio per field (none, plain, masked),
    the first and the last day of validity (whole days in the shop's zone: from the start of
    the first to the end of the last), the contract reference; every partner purpose."""
    errors: dict[str, str] = {}
    fields: dict[str, str] = {}
    for name in GRANT_FIELDS:
        mode = form.get(f"field_{name}", "")
        if mode in GRANT_MODES:
            fields[name] = mode
        elif mode:
            errors[f"field_{name}"] = CHOICE_MESSAGE
    if not fields and not errors:
        errors["fields"] = GRANT_FIELDS_MESSAGE
    first, last = parse_day(form.get("valid_from", "")), parse_day(form.get("valid_until", ""))
    if first is None:
        errors["valid_from"] = DATE_MESSAGE
    if last is None:
        errors["valid_until"] = DATE_MESSAGE
    if first is not None and last is not None and last < first:
        errors["valid_until"] = WINDOW_MESSAGE
    contract = form.get("contract_ref", "").strip()
    if not contract or len(contract) > 200:
        errors["contract_ref"] = CONTRACT_MESSAGE
    if errors or first is None or last is None:
        raise Invalid(errors)
    return checked(
        GrantIn,
        {
            "contract_ref": contract,
            "purposes": list(PARTNER_PURPOSES),
            "fields": fields,
            "valid_from": shop_midnight(first),
            "valid_until": shop_midnight(last + timedelta(days=1)),
        },
        {"contract_ref": CONTRACT_MESSAGE, "fields": GRANT_FIELDS_MESSAGE, "": WINDOW_MESSAGE},
        "valid_until",
    )


def shop_midnight(day: date) -> datetime:
    """Midnight at the start of ``day`` in Asia/Ho_Chi_Minh."""
    return datetime.combine(day, time.min, SHOP_ZONE)


def shop_day(moment: datetime) -> date:
    return moment.astimezone(SHOP_ZONE).date()


def last_shop_day(until: datetime) -> date:
    """The last whole day of a window that ends at ``until`` (exclusive)."""
    return (until.astimezone(SHOP_ZONE) - timedelta(microseconds=1)).date()


def as_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Rewrap:
    """How far the data keys are under the primary version: ``done`` of ``total``, and the
    customers' own keys still under an older version."""

    done: int
    total: int
    customers_waiting: int

    @property
    def waiting(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else (self.done * 100) // self.total


def rewrap_of(versions: list[Any], primary: int) -> Rewrap:
    """From ``GET /v1/admin/keys``'s versions (``KeyVersion``: data and customer keys each)."""
    total = sum(v.data_keys for v in versions)
    done = sum(v.data_keys for v in versions if v.version == primary)
    customers = sum(v.customer_keys for v in versions if v.version != primary)
    return Rewrap(done, total, customers)
