"""A console action: a state-changing form acted on once, its refusals read beside its fields,
its result confirmed on the next page (issue 19.5). Every desk's POST goes through here.

- ``once_field()`` (a template global, next to ``csrf_field()``): a hidden field holding a key
  made when the form is drawn. A second submit of the same drawn form (a double click, a
  reload of the POST, a retry after a dropped answer) carries the same key.
- ``act_once(...)``: runs the action's work under that key with the API's own idempotency
  store (``IdempotentCall``): the first submit does the work and remembers its result in the
  same transaction, and commits; a repeat with the same fields gets the remembered result back
  and does nothing; a repeat with other fields under the key is refused (422). The operation
  name is ``console:<operation>``, apart from the API's keys.
- ``Refused``: a refusal that a desk shows on its form: a message for the page and one per
  field, all gettext messages, made from the ``Problem`` the service raised (``refused``;
  ``rolled_back`` also undoes the refused work first).
- ``see_other(path, done)``: the answer to a successful post (303, post/redirect/get); the next
  page reads ``done`` from its query with ``done_message`` and confirms what happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.principal import Actor
from pdvault.console.i18n import N_
from pdvault.errors import Problem
from pdvault.idempotency import IdempotentCall
from pdvault.runtime import Runtime

ONCE = "once"
# The fields that are the form's machinery, not its request.
_MACHINERY = frozenset({"csrf", ONCE})
_ONCE_FIELD = Markup('<input type="hidden" name="once" value="{}">')

# A refusal's message by its reason code, where the code says more than its status.
REASON_MESSAGES: dict[str, str] = {
    "legal_hold": N_("The customer is under a legal hold and cannot be erased while it lasts."),
    "idempotency_key_reused": N_(
        "This form was already sent with other values. Open the page again to send new ones."
    ),
    "four_eyes": N_(
        "You recorded this request: a data-protection officer who did not record it decides it."
    ),
    "request_expired": N_("The request has expired."),
    "request_pending": N_("The request is still waiting for its approval."),
    "invalid_transition": N_("It cannot move to that state from where it is now."),
    "already_notified": N_("This was already notified."),
    "reference_required": N_("A reference is required."),
    "duplicate_principal": N_("A principal with that name already exists."),
    "duplicate_partner": N_("A partner with that name already exists."),
    "principal_disabled": N_("That principal is disabled."),
    "erased": N_("This customer has been erased."),
    "purpose_not_permitted": N_("Your role may not state this purpose for this access."),
    "role_not_permitted": N_("Your role may not do this."),
    "field_not_permitted": N_("This purpose does not reach the fields asked for."),
    "consent_required": N_("This purpose needs the customer's consent."),
    "consent_missing": N_("The customer has not given the consent this purpose needs."),
    "consent_withdrawn": N_("The customer has withdrawn the consent this purpose needs."),
    "justification_required": N_("This purpose needs a written justification."),
    "no_pending_notice": N_("There is no pending notice for this customer."),
    "no_open_case": N_("There is no open case for this customer."),
    "request_not_approved": N_("The request has not been approved."),
    "out_of_scope": N_("This is outside the request's scope."),
}
# A refusal's message by its status, when its reason has no message of its own.
STATUS_MESSAGES: dict[int, str] = {
    403: N_("Your role may not do this. The refusal is recorded in the access log."),
    404: N_("There is nothing here."),
    409: N_("It has changed since the page was drawn, or it is already done. Reload the page."),
    410: N_("This customer has been erased."),
    412: N_("It has changed since the page was drawn. Reload the page."),
    422: N_("Something in the form is not valid."),
}
FIELD_MESSAGE = N_("Not valid.")


def once_field() -> Markup:
    """The hidden field of a drawn form's key (``{{ once_field() }}`` in a template)."""
    return _ONCE_FIELD.format(secrets.token_urlsafe(18))


def canonical(form: Mapping[str, str]) -> bytes:
    """The request a form makes, in one form: its fields but the machinery, sorted."""
    return orjson.dumps(
        {k: v for k, v in form.items() if k not in _MACHINERY}, option=orjson.OPT_SORT_KEYS
    )


async def act_once(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    form: Mapping[str, str],
    operation: str,
    work: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """``work()`` done once per drawn form, committed with its remembered result; returns
    the result and whether it was a repeat (nothing done). A form without its key (sent by
    hand) is done as sent: the key is the browser's protection, not a permission."""
    call = IdempotentCall(runtime, session, actor, f"console:{operation}", form.get(ONCE) or None)
    body = canonical(form)
    stored = await call.replay(body)
    if stored is not None:
        return orjson.loads(stored.body), True
    result = await work()
    call.stage(200, result)
    try:
        await session.commit()
    except IntegrityError:
        # The same form sent twice at once: the other submit committed first.
        await session.rollback()
        raced = await call.raced()
        if raced is None:
            raise
        return orjson.loads(raced.body), True
    return result, False


@dataclass
class Refused:
    """What a desk's form shows for a refused action: one message for the page, and one per
    field (the form's field names), each a gettext message."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    reason: str | None = None


def refused(problem: Problem, names: Mapping[str, str] | None = None) -> Refused:
    """``problem`` as a form shows it. ``names`` maps the API's field names (the last part
    of an error's ``loc``) to the form's, where they differ; errors on fields the form does
    not have stay in the page's message."""
    message = REASON_MESSAGES.get(problem.reason or "") or STATUS_MESSAGES.get(
        problem.status, N_("The request could not be completed.")
    )
    fields: dict[str, str] = {}
    for error in problem.extra.get("errors") or []:
        loc = error.get("loc") if isinstance(error, Mapping) else None
        if not loc:
            continue
        name = str(loc[-1])
        fields[(names or {}).get(name, name)] = FIELD_MESSAGE
    return Refused(message, fields, problem.reason)


async def rolled_back(
    session: AsyncSession, problem: Problem, names: Mapping[str, str] | None = None
) -> Refused:
    """A refused action's work undone (the refusal's own access event is already committed
    by the service) and ``problem`` as its form shows it (``refused``)."""
    await session.rollback()
    return refused(problem, names)


def see_other(path: str, done: str, **query: str) -> RedirectResponse:
    """The page after a successful post, told what was done (``done``: a key of the desk's
    messages, never a value the person typed)."""
    return RedirectResponse(f"{path}?{urlencode({**query, 'done': done})}", status_code=303)


def done_message(request: Request, messages: Mapping[str, str]) -> str | None:
    """The confirmation the page shows for its ``done`` query (a key of ``messages``)."""
    return messages.get(request.query_params.get("done", ""))
