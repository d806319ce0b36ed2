"""The console's door (issue 18): sign-in with a personal token, sign-out (here or
everywhere), the language switch, the start page and the console's own script and style.
Every route stays out of the OpenAPI document: the console is not part of the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from pdvault.audit.writer import ALLOWED, DENIED, EventDraft
from pdvault.auth.principal import resolve_token
from pdvault.auth.tokens import looks_like_token
from pdvault.console.dpodesk import due_summary
from pdvault.console.i18n import N_, language_or_default
from pdvault.console.web import (
    COOKIE,
    PREFIX,
    STATIC,
    ConsolePage,
    PostedForm,
    console_of,
    read_form,
    render,
)
from pdvault.deps import RuntimeDep, SessionDep, count_auth_failure
from pdvault.errors import NotFound, TooManyRequests
from pdvault.policy import Reason, may_use_console

router = APIRouter(include_in_schema=False)

SIGN_IN = f"{PREFIX}/sign-in"
SIGN_IN_ACTION, SIGN_OUT_ACTION = "console.sign_in", "console.sign_out"
SIGN_OUT_EVERYWHERE_ACTION = "console.sign_out_everywhere"
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

UNKNOWN_TOKEN = N_("This token is unknown, expired or revoked.")
NOT_FOR_CONSOLE = N_(
    "This token belongs to a system (the storefront or a partner), which uses the API. "
    "The console is for people: the DPO, the legal officer, auditors, administrators and "
    "employees."
)
TOO_MANY = N_("Too many failed sign-ins from this address. Wait a minute, then try again.")


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get(PREFIX)
async def console_root() -> RedirectResponse:
    return _redirect(f"{PREFIX}/")


@router.get(f"{PREFIX}/")
async def start(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage
) -> Response:
    # The DPO's desk (issue 19.1): the dpo sees what is due first.
    due = await due_summary(runtime, session, signed.actor)
    return render(request, signed, "start.html", {"view": due, "summary_link": True})


@router.get(SIGN_IN)
async def sign_in_page(
    request: Request, lang: Annotated[str | None, Query(max_length=8)] = None
) -> Response:
    return render(request, None, "sign_in.html", {"error": None}, language=lang)


@router.post(SIGN_IN)
async def sign_in(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """A personal token opens a session for a role the policy lets use the console. Every
    refusal counts toward the address's token-guessing limit (auth/throttle.py), as a failed
    bearer token does; a known holder's refusal is logged."""
    form = await read_form(request)
    language = language_or_default(form.get("language"))
    token = form.get("token", "").strip()

    def refuse(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
        return render(
            request,
            None,
            "sign_in.html",
            {"error": message},
            status=status,
            language=language,
            headers=headers,
        )

    resolved = await resolve_token(session, runtime.principals, token) if token else None
    try:
        if resolved is None:
            count_auth_failure(
                request, runtime, "unknown" if looks_like_token(token) else "malformed"
            )
            return refuse(UNKNOWN_TOKEN, 401)
        if resolved.lapsed is not None:
            count_auth_failure(request, runtime, resolved.lapsed)
            await runtime.audit.denied(
                session,
                resolved.actor,
                EventDraft(action="auth.token", outcome=DENIED, reason=resolved.lapsed),
            )
            return refuse(UNKNOWN_TOKEN, 401)
        if not may_use_console(resolved.actor.role):
            count_auth_failure(request, runtime, Reason.ROLE_NOT_PERMITTED.value)
            await runtime.audit.denied(
                session,
                resolved.actor,
                EventDraft(
                    action=SIGN_IN_ACTION,
                    outcome=DENIED,
                    reason=Reason.ROLE_NOT_PERMITTED.value,
                ),
            )
            return refuse(NOT_FOR_CONSOLE, 403)
    except TooManyRequests as exc:
        return refuse(TOO_MANY, 429, exc.headers)
    actor = resolved.actor
    console = console_of(request)
    session_id = await console.sessions.open(session, actor, language)
    await runtime.audit.append(session, actor, EventDraft(action=SIGN_IN_ACTION, outcome=ALLOWED))
    await session.commit()
    response = _redirect(f"{PREFIX}/")
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(console.sessions.lifetime.total_seconds()),
        path=PREFIX,
        secure=console.settings.console_secure_cookie,
        httponly=True,
        samesite="strict",
    )
    return response


def _signed_out() -> Response:
    response = _redirect(SIGN_IN)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.post(f"{PREFIX}/sign-out")
async def sign_out(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage, _: PostedForm
) -> Response:
    await console_of(request).sessions.end(session, signed.id_hash)
    await runtime.audit.append(
        session, signed.actor, EventDraft(action=SIGN_OUT_ACTION, outcome=ALLOWED)
    )
    await session.commit()
    return _signed_out()


@router.post(f"{PREFIX}/sign-out-everywhere")
async def sign_out_everywhere(
    request: Request, runtime: RuntimeDep, session: SessionDep, signed: ConsolePage, _: PostedForm
) -> Response:
    await console_of(request).sessions.end_everywhere(session, signed.actor.principal_id)
    await runtime.audit.append(
        session, signed.actor, EventDraft(action=SIGN_OUT_EVERYWHERE_ACTION, outcome=ALLOWED)
    )
    await session.commit()
    return _signed_out()


@router.post(f"{PREFIX}/language")
async def choose_language(
    request: Request, session: SessionDep, signed: ConsolePage, form: PostedForm
) -> Response:
    """The session's language; back to the page the switch was on (a console path only)."""
    language = language_or_default(form.get("language"))
    await console_of(request).sessions.set_language(session, signed.id_hash, language)
    await session.commit()
    back = form.get("next", "")
    unsafe = "//" in back or "\\" in back or any(ord(c) < 0x20 or ord(c) == 0x7F for c in back)
    if not back.startswith(f"{PREFIX}/") or unsafe:
        back = f"{PREFIX}/"
    return _redirect(back)


@router.get(f"{PREFIX}/static/{{name}}")
async def static(name: str) -> Response:
    """The console's own stylesheet and script (no third-party host, no inline code)."""
    path = STATIC / name
    media = _STATIC_TYPES.get(path.suffix)
    if media is None or path.name != name or not path.is_file():
        raise NotFound("No such file.")
    return FileResponse(path, media_type=media)
