"""Static checks of the Dockerfile and docker-compose.yml; needs neither Docker nor a network."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEYRING = "/run/secrets/pdvault_keyring"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
Instr = tuple[str, str]  # (INSTRUCTION, its arguments)


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    svc = (compose.get("services") or {}).get(name)
    assert isinstance(svc, dict), f"docker-compose.yml has no {name!r} service"
    return svc


def env_of(svc: dict[str, Any], *, raw: bool = False) -> dict[str, str]:
    """A service's environment; unless raw, ${VAR:-default} / ${VAR-default} -> the default."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = {k: v for k, _, v in (str(item).partition("=") for item in env)}
    fix = (lambda v: v) if raw else (lambda v: _VAR.sub(lambda m: m.group(2) or "", v))
    return {str(k): fix(str(v)) for k, v in env.items()}


def parse_dockerfile(text: str) -> list[list[Instr]]:
    """Stages of (INSTRUCTION, args); joins backslash continuations, drops comments."""
    stages: list[list[Instr]] = []
    buf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        keyword, _, args = (buf + stripped).partition(" ")
        buf = ""
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:  # an ARG before the first FROM belongs to no stage
            stages[-1].append((keyword.upper(), args.strip()))
    return stages


def argv(args: str) -> list[str]:
    """Arguments of an exec-form (JSON array) or shell-form instruction."""
    return [str(a) for a in json.loads(args)] if args.startswith("[") else shlex.split(args)


def args_of(stage: list[Instr], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def stages() -> list[list[Instr]]:
    parsed = parse_dockerfile((ROOT / "Dockerfile").read_text())
    assert parsed, "Dockerfile has no FROM instruction"
    return parsed


def test_pdvault_waits_for_healthy_postgres(compose: dict[str, Any]) -> None:
    dep = service(compose, "pdvault").get("depends_on") or {}
    assert isinstance(dep, dict), "pdvault.depends_on must be a mapping with conditions"
    condition = (dep.get("postgres") or {}).get("condition")
    assert condition == "service_healthy", "pdvault must wait for postgres: service_healthy"
    probe = (service(compose, "postgres").get("healthcheck") or {}).get("test", "")
    probe = " ".join(map(str, probe)) if isinstance(probe, list) else str(probe)
    assert "pg_isready" in probe, f"postgres healthcheck does not run pg_isready: {probe!r}"


def test_database_url_matches_postgres_service(compose: dict[str, Any]) -> None:
    app, db = service(compose, "pdvault"), service(compose, "postgres")
    url, pg = env_of(app).get("PDVAULT_DATABASE_URL", ""), env_of(db)
    assert url.startswith("postgresql+asyncpg://"), f"not a postgresql+asyncpg URL: {url!r}"
    parts = urlsplit(url)
    assert parts.hostname == "postgres", f"DB host {parts.hostname!r} is not the postgres service"
    assert parts.username == pg.get("POSTGRES_USER"), "DB user differs from POSTGRES_USER"
    assert unquote(parts.password or "") == pg.get("POSTGRES_PASSWORD"), "DB password mismatch"
    assert parts.path.lstrip("/") == pg.get("POSTGRES_DB"), "DB name differs from POSTGRES_DB"
    raw_password = env_of(db, raw=True)["POSTGRES_PASSWORD"]
    raw_url = env_of(app, raw=True)["PDVAULT_DATABASE_URL"]
    assert raw_password in raw_url, "URL and postgres must take the password from the same var"


def test_keyring_is_a_file_secret(compose: dict[str, Any]) -> None:
    app, mounts = service(compose, "pdvault"), {}
    for entry in app.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        mounts[target if target.startswith("/") else f"/run/secrets/{target}"] = source
    keyring = env_of(app).get("PDVAULT_KEYRING", "")
    assert keyring in mounts, f"PDVAULT_KEYRING={keyring!r} is not a secret mounted on pdvault"
    assert keyring == f"/run/secrets/{mounts[keyring]}", "PDVAULT_KEYRING != /run/secrets/<name>"
    declared = (compose.get("secrets") or {}).get(mounts[keyring]) or {}
    assert "file" in declared, f"secret {mounts[keyring]!r} has no top-level `file:`"


def test_ports_bound_to_loopback_only(compose: dict[str, Any]) -> None:
    assert not service(compose, "postgres").get("ports"), "postgres must not publish a port"
    ports = service(compose, "pdvault").get("ports") or []
    assert ports, "pdvault publishes no port"
    for port in ports:
        host_ip = port.get("host_ip", "") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
        assert host_ip == "127.0.0.1", f"port {port!r} is not bound to 127.0.0.1 only"


def test_final_stage_is_slim_and_not_root(stages: list[list[Instr]]) -> None:
    final = stages[-1]
    image = next(t for t in argv(final[0][1]) if not t.startswith("--"))
    assert "slim" in image, f"final stage is based on {image!r}, not a slim image"
    keywords = [kw for kw, _ in final]
    assert "CMD" in keywords, "final stage has no CMD"
    users = args_of(final[: len(keywords) - keywords[::-1].index("CMD")], "USER")
    assert users, "no USER instruction before CMD in the final stage"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"final stage runs as {users[-1]!r}"


def test_cmd_migrates_then_serves(stages: list[list[Instr]]) -> None:
    cmds = args_of(stages[-1], "CMD")
    cmd = " ".join(argv(cmds[-1])) if cmds else ""
    migrate, serve = cmd.find("pdvault migrate"), cmd.find("pdvault serve")
    assert migrate != -1, f"CMD does not run `pdvault migrate`: {cmd!r}"
    assert serve > migrate, f"CMD does not run `pdvault serve` after migrating: {cmd!r}"
    assert "&&" in cmd[migrate:serve], f"serve must only start if migrate succeeds: {cmd!r}"


def test_healthcheck_and_expose(stages: list[list[Instr]]) -> None:
    checks = args_of(stages[-1], "HEALTHCHECK")
    assert checks, "final stage has no HEALTHCHECK"
    assert "/healthz" in checks[-1], f"HEALTHCHECK does not hit /healthz: {checks[-1]!r}"
    exposed = {p.split("/")[0] for args in args_of(stages[-1], "EXPOSE") for p in args.split()}
    assert "8000" in exposed, f"EXPOSE 8000 missing (exposed: {sorted(exposed)})"


def test_image_env_matches_compose(stages: list[list[Instr]], compose: dict[str, Any]) -> None:
    env: dict[str, str] = {}
    for tokens in map(shlex.split, args_of(stages[-1], "ENV")):
        if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
            env[tokens[0]] = " ".join(tokens[1:])
            continue
        env.update({k: v for k, _, v in (t.partition("=") for t in tokens)})
    assert env.get("PDVAULT_HOST") == "0.0.0.0", "image must set PDVAULT_HOST=0.0.0.0"  # noqa: S104
    assert env.get("PDVAULT_KEYRING") == KEYRING, f"image must set PDVAULT_KEYRING={KEYRING}"
    in_compose = env_of(service(compose, "pdvault")).get("PDVAULT_KEYRING")
    assert in_compose == KEYRING, f"compose PDVAULT_KEYRING {in_compose!r} differs from image"


def test_copied_context_paths_exist(stages: list[list[Instr]]) -> None:
    missing = []
    for kw, args in (instr for stage in stages for instr in stage):
        tokens = argv(args)
        if kw in {"COPY", "ADD"} and not any(t.startswith("--from") for t in tokens):
            sources = [t for t in tokens if not t.startswith("--")][:-1]
            missing += [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"COPY/ADD sources missing from the repo root {ROOT}: {missing}"


def test_console_script_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("project", {})
    scripts = project.get("scripts", {})
    assert "pdvault" in scripts, "pyproject.toml [project.scripts] does not declare `pdvault`"
