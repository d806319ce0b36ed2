"""The docs cannot drift from the code: the configuration reference is the settings class,
every variable the docs name exists, and the integrator guide's curl examples run, in order,
against a real server on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pdvault.config import Settings
from pdvault.config_reference import BEGIN, END, _rows, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_operator_guide_holds_the_generated_reference() -> None:
    text = (DOCS / "operator.md").read_text(encoding="utf-8")
    between = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert between == reference_markdown().strip(), "run `pdvault config-reference`"


def test_every_setting_is_explained() -> None:
    missing = [env for env, _, meaning in _rows(Settings, "PDVAULT_") if not meaning]
    assert missing == []


def test_every_variable_the_docs_name_exists() -> None:
    known = {env for env, _, _ in _rows(Settings, "PDVAULT_")} | {
        "PDVAULT_TEST_POSTGRES_URL",
        "PDVAULT_TEST_FUZZ_SCALE",
    }
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        named = set(re.findall(r"PDVAULT_[A-Z0-9_]+[A-Z0-9]", path.read_text(encoding="utf-8")))
        named = {n for n in named if not n.endswith("__")}
        assert named <= known, f"{path.name} names unknown settings: {sorted(named - known)}"


def shell_blocks(path: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.e2e
def test_integrator_guide_runs_against_a_live_server(
    live_server_factory: Any, app_admin_token: Any, tmp_path: Path
) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.fail("the guide's examples need curl and jq (Debian packages curl, jq)")
    server = live_server_factory(workers=1)
    admin = app_admin_token(server)
    blocks = shell_blocks(DOCS / "integrator.md")
    assert len(blocks) >= 8
    setup, *steps = blocks
    assert "export PDV=" in setup
    script = "set -euo pipefail\n" + "\n".join(steps)
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/bin:/bin", "PDV": server.base_url, "ADMIN": admin},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "registered " in result.stdout
    assert "false" not in result.stdout.split()  # every jq -e check printed true


@pytest.fixture
def app_admin_token(database_url: str) -> Any:
    """An admin token for a live server, issued straight into its database."""
    import asyncio

    from pdvault.db import make_engine, make_sessionmaker
    from pdvault.policy import Role
    from pdvault.principals import service
    from pdvault.principals.schemas import PrincipalIn

    def issue(_server: Any) -> str:
        async def run() -> str:
            engine = make_engine(database_url, pool_size=1)
            try:
                async with make_sessionmaker(engine)() as session:
                    p = await service.create_principal(
                        session, PrincipalIn(name="docs-admin", role=Role.ADMIN)
                    )
                    token = (await service.issue_token(session, p, 1)).token
                    await session.commit()
                    return token
            finally:
                await engine.dispose()

        return asyncio.run(run())

    return issue
