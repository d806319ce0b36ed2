"""Static checks of the Dockerfile and docker-compose.yml; needs neither Docker nor a network."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEYRING_DIR = "/run/secrets/pdvault"
KEYRING = f"{KEYRING_DIR}/keyring.json"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
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


def bind_mounts(svc: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """A service's bind mounts: container path -> (host path, read-only)."""
    mounts: dict[str, tuple[str, bool]] = {}
    for entry in svc.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts[entry["target"]] = (entry["source"], bool(entry.get("read_only")))
            continue
        source, target, *opts = str(entry).split(":")
        if source.startswith((".", "/", "~")):  # a path, not a named volume
            mounts[target] = (source, "ro" in ",".join(opts).split(","))
    return mounts


def test_keyring_lives_in_a_writable_host_directory(compose: dict[str, Any]) -> None:
    """`docker compose run --rm pdvault keys create` must be able to write the keyring (and
    `keys rotate` to replace it atomically, which needs its directory): a read-only file
    secret cannot be created from inside, and a missing secret file stops the container from
    being created at all. So the keyring's directory is a writable bind of a host folder that
    .gitignore and .dockerignore keep out of commits and images."""
    app = service(compose, "pdvault")
    keyring = env_of(app).get("PDVAULT_KEYRING", "")
    assert keyring == KEYRING, f"compose PDVAULT_KEYRING {keyring!r} != {KEYRING}"
    mounts = bind_mounts(app)
    assert KEYRING_DIR in mounts, f"{KEYRING_DIR} is not a bind mount of the pdvault service"
    host, read_only = mounts[KEYRING_DIR]
    assert not read_only, "the keyring directory must be writable for keys create / rotate"
    assert host.startswith("./"), f"the keyring's host folder {host!r} is not beside the file"
    folder = host[2:].rstrip("/")
    for ignore in (".gitignore", ".dockerignore"):
        lines = {ln.strip().strip("/") for ln in (ROOT / ignore).read_text().splitlines()}
        assert folder in lines, f"{ignore} does not exclude {folder}/"
    assert not app.get("secrets"), "a file secret of a keyring not yet created blocks `run`"


def test_image_prepares_the_keyring_directory(stages: list[list[Instr]]) -> None:
    """Without a bind mount (a named volume, plain `docker run`) the directory is the service
    user's own, so `keys create` works there too and a new volume inherits that ownership."""
    runs = " ".join(args_of(stages[-1], "RUN"))
    made = re.search(r"install -d -o pdvault -g pdvault -m 0700 ([^&;]+)", runs)
    assert made, "the final stage does not create the service's directories with install -d"
    assert KEYRING_DIR in made.group(1).split(), f"{KEYRING_DIR} is not created, owned, 0700"


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


def entrypoint_calls(tmp_path: Path, *args: str, fail: str = "") -> tuple[int, list[str]]:
    """Run docker/entrypoint.sh with a stand-in ``pdvault`` that records its arguments."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    log.write_text("")
    fake = bin_dir / "pdvault"
    fake.write_text('#!/bin/sh\necho "$*" >> "$CALLS"\n[ "$1" = "$FAIL" ] && exit 3\nexit 0\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "CALLS": str(log)}
    proc = subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={**env, "FAIL": fail},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, log.read_text().splitlines()


def test_entrypoint_is_the_script_and_cmd_serves(stages: list[list[Instr]]) -> None:
    final = stages[-1]
    entry = args_of(final, "ENTRYPOINT")
    assert entry, "final stage has no ENTRYPOINT: `docker compose run --rm pdvault keys create`"
    program = argv(entry[-1])
    assert len(program) == 1, f"ENTRYPOINT must be the script alone (exec form): {program!r}"
    copies = [argv(a) for a in args_of(final, "COPY")]
    copied = [c for c in copies if c[-1] == program[0] and "docker/entrypoint.sh" in c]
    assert copied, f"ENTRYPOINT {program[0]!r} is not docker/entrypoint.sh copied into the image"
    assert any(t.startswith("--chmod=") and int(t[8:], 8) & 0o111 for t in copied[0]), (
        "the entrypoint is not copied executable (COPY --chmod=...)"
    )
    assert argv(args_of(final, "CMD")[-1]) == ["serve"], "CMD must be the default: serve"


def test_default_command_migrates_then_serves(tmp_path: Path) -> None:
    assert entrypoint_calls(tmp_path, "serve") == (0, ["migrate", "serve"])
    assert entrypoint_calls(tmp_path) == (0, ["migrate", "serve"])
    # serve must only start if migrate succeeds
    assert entrypoint_calls(tmp_path, "serve", fail="migrate") == (3, ["migrate"])


@pytest.mark.parametrize(
    ("args", "calls"),
    [
        (["keys", "create"], ["keys create"]),
        (["init", "--json"], ["init --json"]),
        (["pdvault", "init", "--json"], ["init --json"]),  # the command spelled out
        (["keys", "rotate"], ["keys rotate"]),
        (["--help"], ["--help"]),
    ],
)
def test_one_off_commands_reach_pdvault(tmp_path: Path, args: list[str], calls: list[str]) -> None:
    """`docker compose run --rm pdvault <command>` runs `pdvault <command>`, nothing else."""
    assert entrypoint_calls(tmp_path, *args) == (0, calls)


def test_one_off_failure_is_the_exit_code(tmp_path: Path) -> None:
    assert entrypoint_calls(tmp_path, "keys", "create", fail="keys") == (3, ["keys create"])


def image_probe(stages: list[list[Instr]]) -> list[str]:
    checks = args_of(stages[-1], "HEALTHCHECK")
    assert checks, "final stage has no HEALTHCHECK"
    _, _, command = checks[-1].partition("CMD ")
    assert command, f"HEALTHCHECK has no CMD: {checks[-1]!r}"
    return argv(command.strip())


def compose_probe(compose: dict[str, Any]) -> list[str]:
    test = (service(compose, "pdvault").get("healthcheck") or {}).get("test")
    assert isinstance(test, list), "pdvault healthcheck test must be an exec-form list"
    assert test[0] == "CMD", f"pdvault healthcheck must be [CMD, ...]: {test!r}"
    return [str(t) for t in test[1:]]


def test_healthcheck_probes_readiness_and_expose(
    stages: list[list[Instr]], compose: dict[str, Any]
) -> None:
    """docs/operator.md points load balancers at /readyz (database and keys usable); the
    container's own health says the same, with what the image has (python, no curl)."""
    probe = image_probe(stages)
    assert probe[0] == "python", f"the probe must use the image's python: {probe!r}"
    assert "/readyz" in " ".join(probe), f"HEALTHCHECK does not hit /readyz: {probe!r}"
    assert compose_probe(compose) == probe, "compose's healthcheck differs from the image's"
    exposed = {p.split("/")[0] for args in args_of(stages[-1], "EXPOSE") for p in args.split()}
    assert "8000" in exposed, f"EXPOSE 8000 missing (exposed: {sorted(exposed)})"


def run_probe(probe: list[str], port: int | str) -> int:
    env = {**os.environ, "PDVAULT_PORT": str(port)}
    cmd = [sys.executable, *probe[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=30, check=False).returncode


def test_the_probe_passes_on_a_ready_server_and_fails_on_none(
    stages: list[list[Instr]], live_server_factory: Any
) -> None:
    """The probe itself, run for real: exit 0 against a ready server (on the port the image's
    PDVAULT_PORT names), non-zero when nothing answers there."""
    probe = image_probe(stages)
    server = live_server_factory(workers=1)
    port = urlsplit(server.base_url).port
    assert port is not None
    assert run_probe(probe, port) == 0
    server.process.terminate()
    server.process.wait(timeout=30)
    assert run_probe(probe, port) != 0


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
