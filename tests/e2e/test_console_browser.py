"""The console in a real browser (issue 18.6): Playwright driving Debian's chromium
(``/usr/bin/chromium``; never a downloaded browser) against a real uvicorn on 127.0.0.1, one
server per engine and one browser for the module.

Journeys: an auditor signs in, filters the log, exports CSV, runs a verification; a partner
token is refused at sign-in; a forged form post without the CSRF token is refused; sign-out
ends the session. Every main page is saved at 1280 and 390 px wide, under the test's tmp
folder, or under ``CONSOLE_SCREENSHOTS_DIR`` when set (``docs/console`` for the docs).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body, truncate_all
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (1280, 390)
SCRIPT = "<script>alert(1)</script>"
HTML_DESCRIPTION = "<b>Nhân viên</b> gọi điện quảng cáo <img src=x> nhiều lần & không xin phép."

if not CHROMIUM.exists():  # .ci/run installs it (apt-get); a developer's machine may lack it
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("CI=true but /usr/bin/chromium is missing (.ci/run installs it)")
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


# What each open page reported as an error (a refused resource, a CSP violation, a script
# error), checked when the page closes.
PAGE_ERRORS: dict[int, list[str]] = {}


@dataclass
class World:
    base: str
    tokens: dict[str, str]
    customers: dict[str, str]
    complaint: str
    shots: Path


def _start_server(database_url: str, keyring: Keyring, data_dir: Path) -> tuple[str, Any, Path]:
    port = free_port()
    log_path = data_dir / "server.log"
    env = {
        **os.environ,
        "PDVAULT_DATABASE_URL": database_url,
        "PDVAULT_KEYS_JSON": keyring.to_json(),
        "PDVAULT_DATA_DIR": str(data_dir / "live-data"),
        "PDVAULT_HOST": "127.0.0.1",
        "PDVAULT_PORT": str(port),
        "PDVAULT_WORKERS": "1",
        "PDVAULT_AUDIT_CHECKPOINT_EVERY_EVENTS": "10",
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pdvault", "serve"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return base, process, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy within 30 s")


def _token(database_url: str, name: str, role: Role, partner_id: str | None = None) -> str:
    import uuid

    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    data = PrincipalIn(
        name=name, role=role, partner_id=uuid.UUID(partner_id) if partner_id else None
    )
    return asyncio.run(create_principal_with_token(settings, data, 1))


def _populate(base: str, database_url: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Principals of every kind, two customers (one named like a script), reads allowed and
    refused, and a complaint whose description holds HTML: each through the API."""
    tokens = {
        role.value: _token(database_url, f"e2e-{role.value}", role)
        for role in (Role.ADMIN, Role.AUDITOR, Role.DPO, Role.EMPLOYEE, Role.STOREFRONT)
    }

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    with httpx.Client(base_url=base, timeout=10) as api:
        r = api.post(
            "/v1/partners",
            json={"name": "Giao Hàng Mẫu", "contract_ref": "HD-E2E-1"},
            headers=headers("admin"),
        )
        assert r.status_code == 201, r.text
        tokens["partner"] = _token(database_url, "e2e-partner", Role.PARTNER, r.json()["id"])
        customers = {}
        for key, name in (("script", SCRIPT), ("plain", "Trần Thị Mẫu")):
            r = api.post(
                "/v1/customers", json=customer_body(full_name=name), headers=headers("storefront")
            )
            assert r.status_code == 201, r.text
            customers[key] = r.json()["id"]
        for purpose in ("order_confirmation", "product_consultation", "marketing"):
            api.get(
                f"/v1/customers/{customers['script']}",
                params={"purpose": purpose},
                headers=headers("employee"),
            )
        api.get("/v1/audit/verify", headers=headers("employee"))  # refused: role
        r = api.post(
            "/v1/complaints",
            json={
                "customer_id": customers["script"],
                "category": "misuse",
                "channel": "hotline",
                "description": HTML_DESCRIPTION,
            },
            headers=headers("dpo"),
        )
        assert r.status_code == 201, r.text
        complaint = r.json()["id"]
    return tokens, customers, complaint


@pytest.fixture(scope="module")
def world(
    database_url: str, keyring: Keyring, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    asyncio.run(truncate_all(database_url))
    data_dir = tmp_path_factory.mktemp("console-e2e")
    base, process, _log = _start_server(database_url, keyring, data_dir)
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    chosen = os.environ.get("CONSOLE_SCREENSHOTS_DIR")
    shots = Path(chosen) if chosen else data_dir / "screenshots"
    shots = shots if chosen and engine == "sqlite" else data_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        tokens, customers, complaint = _populate(base, database_url)
        yield World(base, tokens, customers, complaint, shots)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    # After the world: Playwright's sync API runs an event loop of its own while it is open,
    # and the world is set up with asyncio.run.
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, world: World) -> Iterator[Any]:
    context = browser.new_context(
        base_url=world.base, viewport={"width": WIDTHS[0], "height": 900}, accept_downloads=True
    )
    opened = context.new_page()
    errors = PAGE_ERRORS.setdefault(id(opened), [])
    # A CSP violation or script error would show here: the pages must run clean.
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    PAGE_ERRORS.pop(id(opened))
    assert not errors, errors


def shoot(page: Any, world: World, name: str) -> None:
    """The page as it is, full length, on a laptop and on a phone."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(world.shots / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def follow(page: Any, selector: str) -> None:
    """Click what leads to another page and wait until that page has loaded: a click does
    not wait for the navigation it starts, and the next assertion must read the new page."""
    with page.expect_navigation():
        page.click(selector)


def sign_in(page: Any, token: str) -> None:
    page.goto("/console/sign-in")
    page.fill("#token", token)
    follow(page, "button[type=submit]")


def test_an_auditor_filters_the_log_exports_csv_and_verifies(page: Any, world: World) -> None:
    page.goto("/console/")
    assert page.url.endswith("/console/sign-in")
    shoot(page, world, "sign-in")
    sign_in(page, world.tokens["auditor"])
    assert page.url.endswith("/console/")
    assert page.locator("h1").inner_text() == "Xin chào, e2e-auditor"
    shoot(page, world, "start")

    follow(page, "nav.rooms >> text=Nhật ký truy cập")
    page.select_option("#outcome", "denied")
    follow(page, "form.card button[type=submit]")
    assert "outcome=denied" in page.url
    outcomes = page.locator("tbody td[data-label='Kết quả'] .tag").all_inner_texts()
    assert outcomes
    assert set(outcomes) == {"bị từ chối"}
    shoot(page, world, "access-log")

    with page.expect_download() as download:
        page.click("text=Xuất danh sách này ra CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert len(rows) == len(outcomes)
    assert {row["outcome"] for row in rows} == {"denied"}

    with page.expect_navigation():
        page.locator("tbody a").first.click()
    assert page.locator("h1").inner_text().startswith("Sự kiện ")
    shoot(page, world, "event")

    follow(page, "nav.rooms >> text=Kiểm chứng")
    follow(page, "text=Kiểm chứng nhật ký ngay")
    assert "Nhật ký nguyên vẹn" in page.locator(".result").inner_text()
    shoot(page, world, "verify")

    follow(page, "button:has-text('English')")
    assert page.locator("h1").inner_text() == "Verification of the access log"
    follow(page, "nav.rooms >> text=Access log")
    assert page.locator("h1").inner_text() == "Access log"  # remembered across pages
    shoot(page, world, "access-log-en")


def test_a_partner_token_is_refused_at_sign_in(page: Any, world: World) -> None:
    sign_in(page, world.tokens["partner"])
    assert page.url.endswith("/console/sign-in")
    assert "Bảng điều khiển dành cho con người" in page.locator(".error").inner_text()
    shoot(page, world, "sign-in-refused")
    assert not [c for c in page.context.cookies() if c["name"] == "pdvault_console"]
    PAGE_ERRORS[id(page)].clear()  # the refusal page's 403, reported by the browser: expected


def test_a_forged_form_without_the_csrf_token_is_refused(page: Any, world: World) -> None:
    sign_in(page, world.tokens["auditor"])
    # A form the page never served: same origin, the session's cookie, no CSRF token.
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/console/sign-out-everywhere";
            document.body.append(form);
            form.submit();
        }"""
    )
    page.wait_for_load_state()
    assert "csrf" in page.locator("main").inner_text()
    assert page.locator("h1").inner_text() == "Không được phép"
    # The right token from another origin is refused too (its Origin is checked).
    csrf = page.goto("/console/").text()  # type: ignore[union-attr]
    token = csrf.split('name="csrf" value="')[1].split('"')[0]
    forged = page.request.post(
        f"{world.base}/console/sign-out",
        form={"csrf": token},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert forged.status == 403
    page.goto("/console/")
    assert page.url.endswith("/console/")  # still signed in: nothing changed
    PAGE_ERRORS[id(page)].clear()  # the refusal page's 403, reported by the browser: expected


def test_sign_out_ends_the_session(page: Any, world: World) -> None:
    sign_in(page, world.tokens["auditor"])
    [cookie] = [c for c in page.context.cookies() if c["name"] == "pdvault_console"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    follow(page, "button:has-text('Đăng xuất')")
    assert page.url.endswith("/console/sign-in")
    page.goto("/console/audit/events")
    assert page.url.endswith("/console/sign-in")
    # The old cookie, replayed, opens nothing.
    replay = httpx.get(
        f"{world.base}/console/", cookies={"pdvault_console": cookie["value"]}, timeout=10
    )
    assert replay.status_code == 303


def test_the_other_rooms_read_well(page: Any, world: World) -> None:
    """The pages with personal data, as their roles see them (screenshots; escaping)."""
    sign_in(page, world.tokens["employee"])
    follow(page, "nav.rooms >> text=Khách hàng")
    page.fill("#customer_id", world.customers["script"])
    page.select_option("#purpose", "order_confirmation")
    follow(page, "#read-form button[type=submit]")
    assert SCRIPT in page.locator("dl.detail").inner_text()  # shown as text, never run
    assert world.customers["script"] not in page.url
    shoot(page, world, "customer")
    follow(page, "button:has-text('Đăng xuất')")

    sign_in(page, world.tokens["dpo"])
    page.goto(f"/console/complaints/{world.complaint}")
    assert HTML_DESCRIPTION in page.locator("dd.text").inner_text()
    shoot(page, world, "complaint")
    page.goto("/console/customers/access-report")
    page.fill("#customer_id", world.customers["script"])
    follow(page, "form.card button[type=submit]")
    assert page.locator("tbody tr").count() >= 4
    shoot(page, world, "access-report")
