"""The administrator's desk (issue 19.3): principals and their tokens, partners with their
grants and assignments, the keys' status.

Every route passes the gate of the API route that does the same thing (``pass_gate`` with its
``Operation``) and calls the same service (``principals.service``, ``PartnerService``, the
keys' status route itself), which writes the same access event. Every form is a console
action (``act_once``: a double submit acts once; ``refused``: the service's refusal beside
the field; ``see_other``: post/redirect/get with a confirmation).

A token is shown once: on the answer page of the POST that issued it, in a read-only field,
never in a URL nor in the idempotency store (``act_once`` remembers only its id and end). A
second submit of the same drawn form says the token was already issued and is not shown again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pdvault.auth.principal import Actor
from pdvault.console.actions import act_once, done_message, refused, rolled_back, see_other
from pdvault.console.admindesk import (
    CHOICE_MESSAGE,
    CONTRACT_MESSAGE,
    DAYS_MESSAGE,
    GRANT_FIELDS,
    GRANT_MODES,
    NAME_MESSAGE,
    PARTNER_LINK_MESSAGE,
    Invalid,
    as_uuid,
    checked,
    grant_in,
    last_shop_day,
    rewrap_of,
    shop_day,
)
from pdvault.console.i18n import N_
from pdvault.console.web import PREFIX, ConsolePage, PostedForm, console_of, render
from pdvault.db import utcnow
from pdvault.deps import RuntimeDep, SessionDep, pass_gate
from pdvault.errors import Problem
from pdvault.keys.router import key_status
from pdvault.pagination import Cursor
from pdvault.partners.schemas import PartnerIn
from pdvault.partners.service import PartnerService
from pdvault.policy import Operation, may_call
from pdvault.principals import service as principals
from pdvault.principals.models import Principal
from pdvault.principals.schemas import PrincipalIn, TokenIn

router = APIRouter(include_in_schema=False)

PRINCIPALS = f"{PREFIX}/principals"
TOKENS = f"{PREFIX}/tokens"
PARTNERS = f"{PREFIX}/partners"
KEYS = f"{PREFIX}/keys"
PAGE_SIZE = 50
# Roles in the form's order: the people first, then the systems.
ROLES = ("employee", "dpo", "legal", "auditor", "admin", "storefront", "partner")
# The no-store header the token's page sends itself too (the console's middleware sets it
# on every page; the token's page must not depend on that).
NO_STORE = {"Cache-Control": "no-store"}

DONE = {
    "principal_created": N_("The principal was created."),
    "principal_disabled": N_(
        "The principal was disabled: its tokens stop working and its console sessions ended."
    ),
    "token_revoked": N_("The token was revoked."),
    "partner_created": N_("The partner was created."),
    "grant_created": N_("The grant was created."),
    "grant_revoked": N_("The grant was revoked."),
    "assignment_revoked": N_("The assignment was revoked."),
}


# -- principals ---------------------------------------------------------------------------


async def _partners(runtime: RuntimeDep, session: SessionDep, actor: Actor) -> list[Any]:
    """The partners a partner principal may be linked to (the form's list)."""
    if not may_call(actor.role, Operation.PARTNER_LIST):
        return []
    page = await PartnerService(runtime, session, actor).list_partners(200, None)
    return list(page.items)


def _listing(
    request: Request,
    signed: ConsolePage,
    template: str,
    page: Any,
    base: str,
    values: dict[str, str] | None,
    errors: dict[str, str] | None,
    message: str | None,
    **extra: Any,
) -> Response:
    """A list page with its creation form (principals, partners): the page of rows, the form's
    values and refusals (422 when there are any), the confirmation and the next page's link."""
    return render(
        request,
        signed,
        template,
        {
            "page": page,
            "values": values or {},
            "errors": errors or {},
            "message": message,
            "done": done_message(request, DONE),
            "next_link": f"{base}?cursor={page.next_cursor}" if page.next_cursor else None,
            **extra,
        },
        status=422 if errors or message else 200,
    )


def _refusal(problem: Problem, duplicate: str, **fields: str) -> tuple[dict[str, str], str]:
    """The service's refusal of a creation form: its fields and message; a name already taken
    (reason ``duplicate``) is shown beside the name too."""
    shown = refused(problem, fields)
    errors = dict(shown.fields)
    if problem.reason == duplicate:
        errors["name"] = shown.message
    return errors, shown.message


async def _principals_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: str | None,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    return _listing(
        request,
        signed,
        "admindesk_principals.html",
        await principals.list_principals(session, PAGE_SIZE, cursor),
        PRINCIPALS,
        values,
        errors,
        message,
        roles=ROLES,
        partners=await _partners(runtime, session, signed.actor),
    )


@router.get(PRINCIPALS)
async def principals_list(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: Cursor = None,
) -> Response:
    """The principals, as ``GET /v1/principals``, and the form to create one."""
    await pass_gate(request, runtime, session, signed.actor, Operation.PRINCIPAL_LIST)
    return await _principals_page(request, runtime, session, signed, cursor)


@router.post(PRINCIPALS)
async def principal_create(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """A principal, as ``POST /v1/principals``: the same checks, service and event."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.PRINCIPAL_CREATE)
    values = {k: form.get(k, "").strip() for k in ("name", "role", "partner_id")}
    try:
        # Every field's own check first, so an empty form is answered beside each field.
        early: dict[str, str] = {}
        if values["role"] not in ROLES:
            early["role"] = CHOICE_MESSAGE
        if not values["name"] or len(values["name"]) > 200:
            early["name"] = NAME_MESSAGE
        partner_id = as_uuid(values["partner_id"]) if values["partner_id"] else None
        if values["partner_id"] and partner_id is None:
            early["partner_id"] = PARTNER_LINK_MESSAGE
        if early:
            raise Invalid(early)
        body = checked(
            PrincipalIn,
            {"name": values["name"], "role": values["role"], "partner_id": partner_id},
            {"name": NAME_MESSAGE, "role": CHOICE_MESSAGE, "": PARTNER_LINK_MESSAGE},
            "partner_id",
        )
    except Invalid as invalid:
        return await _principals_page(
            request, runtime, session, signed, None, values=values, errors=invalid.fields
        )

    async def work() -> dict[str, Any]:
        principal = await principals.create_principal(session, body)
        await principals.log_act(
            runtime, session, actor, Operation.PRINCIPAL_CREATE.value, principal.id
        )
        return {"id": str(principal.id)}

    try:
        result, _ = await act_once(runtime, session, actor, form, "principal.create", work)
    except Problem as problem:
        await session.rollback()
        errors, message = _refusal(problem, "duplicate_principal", partner_id="partner_id")
        return await _principals_page(
            request, runtime, session, signed, None, values=values, errors=errors, message=message
        )
    return see_other(f"{PRINCIPALS}/{result['id']}", "principal_created")


async def _principal_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    principal: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    tokens = await principals.list_tokens(session, principal.id, 200, None)
    now = utcnow()
    return render(
        request,
        signed,
        "admindesk_principal.html",
        {
            "principal": principals.principal_out(principal),
            "tokens": tokens.items,
            "now": now,
            "values": values or {"expires_in_days": str(runtime.settings.token_default_days)},
            "errors": errors or {},
            "message": message,
            "done": done_message(request, DONE),
            "may_issue": may_call(signed.actor.role, Operation.TOKEN_CREATE),
            "may_revoke": may_call(signed.actor.role, Operation.TOKEN_REVOKE),
            "may_disable": may_call(signed.actor.role, Operation.PRINCIPAL_DISABLE),
        },
        status=422 if errors or message else 200,
    )


@router.get(f"{PRINCIPALS}/{{principal_id}}")
async def principal_page(
    request: Request,
    principal_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """A principal and its tokens (ids and dates), as ``GET /v1/principals/{id}/tokens``."""
    await pass_gate(request, runtime, session, signed.actor, Operation.TOKEN_LIST)
    principal = await principals.principal_or_404(session, principal_id)
    return await _principal_page(request, runtime, session, signed, principal)


@router.post(f"{PRINCIPALS}/{{principal_id}}/disable")
async def principal_disable(
    request: Request,
    principal_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/principals/{id}/disable``; and the principal's console sessions end
    now, in every browser (their rows are deleted in the same transaction)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.PRINCIPAL_DISABLE)
    principal = await principals.principal_or_404(session, principal_id)

    async def work() -> dict[str, Any]:
        await principals.disable_principal(session, principal)
        await principals.log_act(
            runtime, session, actor, Operation.PRINCIPAL_DISABLE.value, principal.id
        )
        await console_of(request).sessions.end_everywhere(session, principal.id)
        return {"id": str(principal.id)}

    await act_once(runtime, session, actor, form, f"principal.disable:{principal_id}", work)
    runtime.principals.clear()
    return see_other(f"{PRINCIPALS}/{principal_id}", "principal_disabled")


@router.post(f"{PRINCIPALS}/{{principal_id}}/tokens")
async def token_issue(
    request: Request,
    principal_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """A token, as ``POST /v1/principals/{id}/tokens``, shown once on this answer. What
    ``act_once`` remembers is its id and end, never the token: a second submit of the same
    form is told the token was issued and is not shown again."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.TOKEN_CREATE)
    principal = await principals.principal_or_404(session, principal_id)
    values = {"expires_in_days": form.get("expires_in_days", "").strip()}
    try:
        raw = values["expires_in_days"]
        if not raw.isdigit():
            raise Invalid({"expires_in_days": DAYS_MESSAGE})
        body = checked(TokenIn, {"expires_in_days": int(raw)}, {"": DAYS_MESSAGE})
    except Invalid as invalid:
        return await _principal_page(
            request, runtime, session, signed, principal, values=values, errors=invalid.fields
        )
    shown: list[str] = []  # the token, kept in this request only

    async def work() -> dict[str, Any]:
        created = await principals.issue_token(
            session, principal, body.expires_in_days, issued_by=actor.principal_id
        )
        await principals.log_act(
            runtime, session, actor, Operation.TOKEN_CREATE.value, principal.id, created.id
        )
        shown.append(created.token)
        return {"id": str(created.id), "expires_at": created.expires_at.isoformat()}

    try:
        result, repeat = await act_once(
            runtime, session, actor, form, f"token.create:{principal_id}", work
        )
    except Problem as problem:
        refusal = await rolled_back(session, problem)
        principal = await principals.principal_or_404(session, principal_id)
        return await _principal_page(
            request,
            runtime,
            session,
            signed,
            principal,
            values=values,
            errors=refusal.fields,
            message=refusal.message,
        )
    return render(
        request,
        signed,
        "admindesk_token.html",
        {
            "principal": principals.principal_out(principal),
            "token": None if repeat else shown[0],
            "token_id": result["id"],
            "expires_at": datetime.fromisoformat(result["expires_at"]),
        },
        headers=NO_STORE,
    )


@router.post(f"{TOKENS}/{{token_id}}/revoke")
async def token_revoke(
    request: Request,
    token_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/tokens/{id}/revoke``; the console sessions signed in with it end now."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.TOKEN_REVOKE)
    token = await principals.token_or_404(session, token_id)
    owner = token.principal_id

    async def work() -> dict[str, Any]:
        await principals.revoke_token(session, token)
        await principals.log_act(
            runtime, session, actor, Operation.TOKEN_REVOKE.value, owner, token.id
        )
        await console_of(request).sessions.end_token(session, token_id)
        return {"id": str(token_id)}

    await act_once(runtime, session, actor, form, f"token.revoke:{token_id}", work)
    runtime.principals.clear()
    return see_other(f"{PRINCIPALS}/{owner}", "token_revoked")


# -- partners -----------------------------------------------------------------------------


async def _partners_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: str | None,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    return _listing(
        request,
        signed,
        "admindesk_partners.html",
        await PartnerService(runtime, session, signed.actor).list_partners(PAGE_SIZE, cursor),
        PARTNERS,
        values,
        errors,
        message,
    )


@router.get(PARTNERS)
async def partners_list(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    cursor: Cursor = None,
) -> Response:
    """The partners, as ``GET /v1/partners``, and the form to register one."""
    await pass_gate(request, runtime, session, signed.actor, Operation.PARTNER_LIST)
    return await _partners_page(request, runtime, session, signed, cursor)


@router.post(PARTNERS)
async def partner_create(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """A partner, as ``POST /v1/partners`` (the service writes its event)."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.PARTNER_CREATE)
    values = {k: form.get(k, "").strip() for k in ("name", "contract_ref")}
    try:
        body = checked(PartnerIn, values, {"name": NAME_MESSAGE, "contract_ref": CONTRACT_MESSAGE})
    except Invalid as invalid:
        return await _partners_page(
            request, runtime, session, signed, None, values=values, errors=invalid.fields
        )

    async def work() -> dict[str, Any]:
        out = await PartnerService(runtime, session, actor).create_partner(body)
        return {"id": str(out.id)}

    try:
        result, _ = await act_once(runtime, session, actor, form, "partner.create", work)
    except Problem as problem:
        await session.rollback()
        errors, message = _refusal(problem, "duplicate_partner")
        return await _partners_page(
            request, runtime, session, signed, None, values=values, errors=errors, message=message
        )
    return see_other(f"{PARTNERS}/{result['id']}", "partner_created")


async def _partner_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    partner_id: uuid.UUID,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    service = PartnerService(runtime, session, signed.actor)
    partner = await service.partner(partner_id)
    grants = await service.list_grants(partner_id, 200, None)
    now = utcnow()
    today = shop_day(now)
    assignments = (
        await service.partner_assignments(partner_id, 200)
        if may_call(signed.actor.role, Operation.ASSIGNMENT_REVOKE)
        else []
    )
    return render(
        request,
        signed,
        "admindesk_partner.html",
        {
            "partner": partner,
            "grants": [
                {
                    "grant": g,
                    "first_day": shop_day(g.valid_from),
                    "last_day": last_shop_day(g.valid_until),
                    "valid": g.revoked_at is None and g.valid_from <= now < g.valid_until,
                }
                for g in reversed(grants.items)
            ],
            "assignments": assignments,
            "now": now,
            "grant_fields": GRANT_FIELDS,
            "grant_modes": GRANT_MODES,
            "values": values
            or {
                "contract_ref": partner.contract_ref,
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=364)).isoformat(),
            },
            "errors": errors or {},
            "message": message,
            "done": done_message(request, DONE),
            "may_grant": may_call(signed.actor.role, Operation.GRANT_CREATE),
        },
        status=422 if errors or message else 200,
    )


@router.get(f"{PARTNERS}/{{partner_id}}")
async def partner_page(
    request: Request,
    partner_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
) -> Response:
    """A partner, its grants as a matrix (as ``GET /v1/partners/{id}/grants``) and its
    assignments."""
    await pass_gate(request, runtime, session, signed.actor, Operation.GRANT_LIST)
    return await _partner_page(request, runtime, session, signed, partner_id)


@router.post(f"{PARTNERS}/{{partner_id}}/grants")
async def grant_create(
    request: Request,
    partner_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """A grant from the matrix, as ``POST /v1/partners/{id}/grants``."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.GRANT_CREATE)
    values = {
        k: form.get(k, "").strip()
        for k in (
            "contract_ref",
            "valid_from",
            "valid_until",
            *(f"field_{f}" for f in GRANT_FIELDS),
        )
    }
    try:
        body = grant_in(values)
    except Invalid as invalid:
        return await _partner_page(
            request, runtime, session, signed, partner_id, values=values, errors=invalid.fields
        )

    async def work() -> dict[str, Any]:
        out = await PartnerService(runtime, session, actor).create_grant(partner_id, body)
        return {"id": str(out.id)}

    await act_once(runtime, session, actor, form, f"grant.create:{partner_id}", work)
    return see_other(f"{PARTNERS}/{partner_id}", "grant_created")


@router.post(f"{PARTNERS}/{{partner_id}}/grants/{{grant_id}}/revoke")
async def grant_revoke(
    request: Request,
    partner_id: uuid.UUID,
    grant_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/partners/{id}/grants/{grant_id}/revoke``."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.GRANT_REVOKE)

    async def work() -> dict[str, Any]:
        out = await PartnerService(runtime, session, actor).revoke_grant(partner_id, grant_id)
        return {"id": str(out.id)}

    await act_once(runtime, session, actor, form, f"grant.revoke:{grant_id}", work)
    return see_other(f"{PARTNERS}/{partner_id}", "grant_revoked")


@router.post(f"{PARTNERS}/{{partner_id}}/assignments/{{assignment_id}}/revoke")
async def assignment_revoke(
    request: Request,
    partner_id: uuid.UUID,
    assignment_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    signed: ConsolePage,
    form: PostedForm,
) -> Response:
    """As ``POST /v1/partners/{id}/assignments/{assignment_id}/revoke``."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.ASSIGNMENT_REVOKE)

    async def work() -> dict[str, Any]:
        service = PartnerService(runtime, session, actor)
        out = await service.revoke_assignment(partner_id, assignment_id)
        return {"id": str(out.id)}

    await act_once(runtime, session, actor, form, f"assignment.revoke:{assignment_id}", work)
    return see_other(f"{PARTNERS}/{partner_id}", "assignment_revoked")


# -- keys ---------------------------------------------------------------------------------


@router.get(KEYS)
async def keys_page(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    """The keys' status as ``GET /v1/admin/keys`` gives it (the route itself: the same
    figures, the same event), and how far the data keys are under the primary version."""
    actor = await pass_gate(request, runtime, session, signed.actor, Operation.KEYS_STATUS)
    status = await key_status(runtime, session, actor)
    return render(
        request,
        signed,
        "admindesk_keys.html",
        {
            "status": status,
            "rewrap": rewrap_of(status.versions, status.primary_version),
        },
    )
