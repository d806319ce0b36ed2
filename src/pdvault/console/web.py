"""What every console page uses (issue 18): the templates, the signed-in dependency, the
CSRF-checked form, rendering in the session's language.

- ``ConsolePage``: the dependency that gives a page its signed-in person (``SignedIn``: the
  ``Actor`` every service takes, the session's CSRF token and language). Without a working
  session a page answers 303 to the sign-in page.
- ``PostedForm``: the dependency of every state-changing route: the form's fields once its
  Origin (or Referer) is the console's own and its ``csrf`` field is the session's token;
  else 403. Templates put the token in with ``{{ csrf_field() }}``.
- ``render(request, signed, "page.html", {...})``: the page in the session's language, with
  ``_()`` (gettext), ``when`` (a time in Asia/Ho_Chi_Minh, the language's format) and the
  navigation the person's role may use (``NAV``: one entry per room, shown when the policy
  lets the role call its operation).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from pdvault.config import Settings
from pdvault.console.actions import once_field
from pdvault.console.i18n import (
    LANGUAGES,
    N_,
    language_or_default,
    number,
    translations,
    when,
)
from pdvault.console.sessions import ConsoleSessions, SignedIn
from pdvault.deps import RuntimeDep, SessionDep
from pdvault.errors import Forbidden, Problem
from pdvault.policy import Operation, may_call

PREFIX = "/console"
COOKIE = "pdvault_console"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# The longest value a console form field may hold (a token is 47 characters) ...
FIELD_MAX = 200
# ... but for the fields of staff's own text (a reason, a breach's summary, a legal basis),
# which may hold line breaks and are as long as the API lets them be ...
TEXT_FIELDS = frozenset(
    {"reason", "justification", "summary", "description", "measures", "legal_basis", "note"}
)
TEXT_MAX = 2000
# ... and for customer ids typed one a line, up to the longest list a form takes (a breach
# names up to 500; each desk checks its own, smaller, limit and says so beside the field).
LONG_FIELDS = {"customer_ids": 500 * 40}


@dataclass(frozen=True)
class NavItem:
    """A room in the navigation: shown to a role the policy lets call ``operation``."""

    path: str
    label: str
    operation: Operation | None = None


NAV: list[NavItem] = [
    NavItem(f"{PREFIX}/", N_("Start")),
    # The DPO's desk (issue 19.1): what is due first, then the requests.
    NavItem(f"{PREFIX}/due", N_("What is due"), Operation.DELETION_LIST),
    NavItem(f"{PREFIX}/deletion-requests", N_("Deletion requests"), Operation.DELETION_LIST),
    NavItem(f"{PREFIX}/access-requests", N_("Access requests"), Operation.ACCESS_REQUEST_LIST),
    NavItem(f"{PREFIX}/audit/events", N_("Access log"), Operation.AUDIT_EVENTS),
    NavItem(f"{PREFIX}/audit/verify", N_("Verification"), Operation.AUDIT_VERIFY),
    NavItem(
        f"{PREFIX}/customers/access-report", N_("Access report"), Operation.CUSTOMER_ACCESS_REPORT
    ),
    NavItem(f"{PREFIX}/customers", N_("Customers"), Operation.CUSTOMER_READ),
    NavItem(f"{PREFIX}/complaints", N_("Complaints"), Operation.COMPLAINT_LIST),
    NavItem(f"{PREFIX}/compliance", N_("Compliance report"), Operation.REPORT_COMPLIANCE),
    NavItem(f"{PREFIX}/judicial-requests", N_("Judicial requests"), Operation.JUDICIAL_LIST),
    # The administrator's desk (issue 19.3).
    NavItem(f"{PREFIX}/principals", N_("Principals"), Operation.PRINCIPAL_LIST),
    NavItem(f"{PREFIX}/partners", N_("Partners"), Operation.PARTNER_LIST),
    NavItem(f"{PREFIX}/keys", N_("Keys"), Operation.KEYS_STATUS),
    NavItem(f"{PREFIX}/breaches", N_("Breaches"), Operation.BREACH_LIST),
    NavItem(f"{PREFIX}/outbox", N_("Outbox"), Operation.BREACH_LIST),
    NavItem(f"{PREFIX}/paperwork", N_("Paperwork"), Operation.REPORT_IMPACT_ASSESSMENT),
]


ROLE_LABELS = {
    "dpo": N_("Data-protection officer"),
    "legal": N_("Legal officer"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
    "employee": N_("Employee"),
    "storefront": N_("Storefront"),
    "partner": N_("Partner"),
}


OUTCOME_LABELS = (N_("allowed"), N_("denied"))
FIELD_LABELS = {
    "full_name": N_("Full name"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "address": N_("Address"),
}
# The purposes of the rule table, as staff name them (the code stays beside the name).
PURPOSE_LABELS = {
    "registration": N_("Registration"),
    "order_confirmation": N_("Order confirmation"),
    "product_consultation": N_("Product consultation"),
    "product_information": N_("Product information"),
    "marketing": N_("Marketing"),
    "special_case_support": N_("Special case support"),
    "customer_self_service": N_("Customer self-service"),
    "legal_notice": N_("Legal notice"),
    "order_fulfillment": N_("Order fulfilment"),
    "judicial_disclosure": N_("Judicial disclosure"),
    "complaint_handling": N_("Complaint handling"),
    "data_subject_request": N_("Data-subject request"),
    "accounting": N_("Accounting"),
}
STATUS_LABELS = {
    "received": N_("received"),
    "investigating": N_("investigating"),
    "upheld": N_("upheld"),
    "rejected": N_("rejected"),
    "closed": N_("closed"),
}

# A refusal on a console page is a page too: its status, a title and a message a person
# reads, and the machine's reason code.
PROBLEM_TITLES = {
    401: N_("Sign in first"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    410: N_("Erased"),
    422: N_("Not valid"),
    429: N_("Too many requests"),
    503: N_("Unavailable for a moment"),
}
PROBLEM_MESSAGES = {
    401: N_("Your session has ended. Sign in again."),
    403: N_("Your role may not do this. The refusal is recorded in the access log."),
    404: N_("There is nothing here."),
    410: N_("This customer has been erased."),
    422: N_("Something in the request is not valid."),
    429: N_("Too many attempts. Wait a little, then try again."),
    503: N_("The vault cannot answer right now. Try again in a moment."),
}
CSRF_MESSAGE = N_(
    "The form did not come from this console's page, or the page is out of date. Reload the "
    "page and try again."
)
PROBLEM_DEFAULT = (N_("Something went wrong"), N_("The request could not be completed."))

# Markup.format escapes what it is given.
_CSRF_FIELD = Markup('<input type="hidden" name="csrf" value="{}">')


class SignInFirst(Exception):
    """No working session: the console's handler answers 303 to the sign-in page."""


class Console:
    """The console as the app holds it (``app.state.console``): its settings, sessions and
    one template environment per language."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions = ConsoleSessions(
            timedelta(minutes=settings.console_idle_minutes),
            timedelta(hours=settings.console_lifetime_hours),
        )
        self.environments = {language: _environment(language) for language in LANGUAGES}


def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = lambda value, style="medium": when(value, language, style)
    env.globals["num"] = lambda value: number(value, language)
    env.globals["language"] = language
    env.globals["prefix"] = PREFIX
    env.globals["once_field"] = once_field
    return env


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(
    request: Request,
    signed: SignedIn | None,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    language: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered for ``signed`` (None: a page before sign-in, in ``language``)."""
    lang = signed.language if signed is not None else language_or_default(language)
    env = console_of(request).environments[lang]
    csrf = signed.csrf_token if signed is not None else ""
    nav = (
        [n for n in NAV if n.operation is None or may_call(signed.actor.role, n.operation)]
        if signed is not None
        else []
    )
    html = env.get_template(template).render(
        {
            **(context or {}),
            "signed": signed,
            "nav": nav,
            "current_room": current_room(request.url.path, nav),
            # The page with its query (filters, a period: ids and dates, never a personal
            # value), so switching the language keeps what the page shows.
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "role_labels": ROLE_LABELS,
            "field_labels": FIELD_LABELS,
            "purpose_labels": PURPOSE_LABELS,
            "status_labels": STATUS_LABELS,
            "idle_minutes": console_of(request).settings.console_idle_minutes,
            "lifetime_hours": console_of(request).settings.console_lifetime_hours,
            "csrf_field": lambda: _CSRF_FIELD.format(csrf),
        }
    )
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def current_room(path: str, nav: list[NavItem]) -> str | None:
    """The room a page belongs to: the longest room path it is, or lies under (a breach's
    page is in the breaches' room); the start page only for itself."""
    rooms = [
        item.path
        for item in nav
        if path == item.path or (item.path != f"{PREFIX}/" and path.startswith(item.path + "/"))
    ]
    return max(rooms, key=len, default=None)


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def problem_page(request: Request, problem: Problem) -> HTMLResponse:
    """A refusal raised on a console page (``errors.Problem``), as a page of the console
    with the problem's status and headers (main.py installs it for /console paths)."""
    signed = getattr(request.state, "console_signed", None)
    title = PROBLEM_TITLES.get(problem.status, PROBLEM_DEFAULT[0])
    message = PROBLEM_MESSAGES.get(problem.status, PROBLEM_DEFAULT[1])
    if problem.reason == "csrf":
        message = CSRF_MESSAGE
    return render(
        request,
        signed,
        "error.html",
        {"title": title, "message": message, "reason": problem.reason},
        status=problem.status,
        headers=problem.headers,
    )


async def signed_in(request: Request, runtime: RuntimeDep, session: SessionDep) -> SignedIn:
    """The person signed in on this browser, or ``SignInFirst``. A session found ended is
    deleted (and its deletion committed) here."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > FIELD_MAX:
        raise SignInFirst
    signed, wrote = await console_of(request).sessions.resolve(session, session_id)
    if wrote:
        await session.commit()
    if signed is None:
        raise SignInFirst
    request.state.console_signed = signed
    return signed


ConsolePage = Annotated[SignedIn, Depends(signed_in)]


def expected_origin(request: Request, settings: Settings) -> str:
    if settings.console_origin:
        return settings.console_origin
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def same_origin(request: Request, settings: Settings) -> bool:
    """The post came from the console's own pages: its Origin, or without one its Referer,
    is the console's origin."""
    expected = expected_origin(request, settings)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin == expected
    referer = request.headers.get("referer")
    return referer is not None and (referer == expected or referer.startswith(expected + "/"))


async def read_form(request: Request) -> dict[str, str]:
    """A console form's text fields; 403 unless it came from the console's own pages. A
    field too long or holding a control character is dropped (a form field is a token, a
    name from a list or an id, or one of ``TEXT_FIELDS``: staff's text, line breaks allowed)."""
    if not same_origin(request, console_of(request).settings):
        raise Forbidden("The form was not sent from the console's own pages.", reason="csrf")
    form = await request.form()
    return {
        key: value
        for key, value in form.items()
        if isinstance(value, str) and _acceptable(key, value)
    }


def _acceptable(key: str, value: str) -> bool:
    if key in TEXT_FIELDS or key in LONG_FIELDS:
        limit = LONG_FIELDS.get(key, TEXT_MAX)
        return len(value) <= limit and value.replace("\r\n", "\n").replace("\n", "").isprintable()
    return len(value) <= FIELD_MAX and value.isprintable()


async def posted_form(request: Request, signed: ConsolePage) -> dict[str, str]:
    """The form of a state-changing post by the signed-in person: same origin and the
    session's CSRF token, else 403 (and nothing changes)."""
    form = await read_form(request)
    sent = form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), signed.csrf_token.encode()):
        raise Forbidden(
            "The form's CSRF token is missing or wrong; reload the page.", reason="csrf"
        )
    return form


PostedForm = Annotated[dict[str, str], Depends(posted_form)]
