"""The console speaks Vietnamese by default and English on choice, remembered per session
(issue 18.3); every string is in the catalogue and translated; times in the shop's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

import pdvault.console
from pdvault.console.i18n import catalogue, marked_messages, translations, when
from tests.conftest import TokenFactory
from tests.console.conftest import SignIn, post_form, sign_in

CONSOLE = Path(pdvault.console.__file__).parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_babel_cfg_names_what_the_test_extracts() -> None:
    text = (CONSOLE / "babel.cfg").read_text()
    assert "[python: **.py]" in text
    assert "[jinja2: templates/**.html]" in text


def test_every_message_is_translated_to_vietnamese() -> None:
    messages = marked_messages()
    assert len(messages) > 20
    vi = catalogue("vi")
    missing = sorted(m for m in messages if m not in vi or not vi[m].string)
    assert not missing, f"not in the Vietnamese catalogue, or untranslated: {missing}"
    fuzzy = sorted(m for m in messages if vi[m].fuzzy)
    assert not fuzzy, f"fuzzy (not used) in the Vietnamese catalogue: {fuzzy}"
    for message in messages:
        translated = vi[message].string
        assert isinstance(translated, str)
        assert set(_PLACEHOLDER.findall(translated)) == set(_PLACEHOLDER.findall(message)), message
    stale = sorted(m.id for m in vi if m.id and m.id not in messages)
    assert not stale, f"in the catalogue but used nowhere: {stale}"


def test_the_catalogue_is_compiled_at_load_time() -> None:
    assert translations("vi").gettext("Sign in") == "Đăng nhập"
    assert translations("en").gettext("Sign in") == "Sign in"
    assert not list(CONSOLE.rglob("*.mo")), "no compiled catalogue is kept in the package"


def test_times_are_shown_in_ho_chi_minh_in_each_languages_format() -> None:
    at = datetime(2026, 12, 5, 17, 30, 5, tzinfo=UTC)  # 00:30 on the 6th in Vietnam
    assert when(at, "vi") == "00:30:05 6 thg 12, 2026"
    assert when(at, "en") == "Dec 6, 2026, 12:30:05\u202fAM"
    assert when(None, "vi") == ""


async def test_vietnamese_by_default_english_on_the_sign_in_page(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/console/sign-in")
    assert '<html lang="vi">' in r.text
    assert "Đăng nhập" in r.text
    r = await client.get("/console/sign-in?lang=en")
    assert '<html lang="en">' in r.text
    assert "Sign in to the console" in r.text
    r = await client.get("/console/sign-in?lang=xx")
    assert '<html lang="vi">' in r.text


async def test_the_choice_is_remembered_per_session(
    app: object, client: httpx.AsyncClient, issue: TokenFactory, console_sign_in: SignIn
) -> None:
    person = await issue("auditor")
    csrf = await console_sign_in(person.token)
    assert "Trang đầu" in (await client.get("/console/")).text
    r = await post_form(
        client, "/console/language", {"csrf": csrf, "language": "en", "next": "/console/"}
    )
    assert (r.status_code, r.headers["location"]) == (303, "/console/")
    for _ in range(2):
        page = (await client.get("/console/")).text
        assert '<html lang="en">' in page
        assert "Sign out everywhere" in page
    # Another browser of the same person keeps its own language.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, person.token)
        assert '<html lang="vi">' in (await other.get("/console/")).text
    # Signing in from the English sign-in page opens an English session.
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as third:
        await sign_in(third, person.token, language="en")
        assert '<html lang="en">' in (await third.get("/console/")).text
