"""The ``pdvault`` command. Every failure is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from pdvault.config import Settings
from pdvault.config import get_settings as _load_settings
from pdvault.crypto.keyring import KeyringError, new_keyring, write_keyring

app = typer.Typer(
    help="pdvault: a personal-data vault.", no_args_is_help=True, pretty_exceptions_enable=False
)
token_app = typer.Typer(help="Tokens for principals.", no_args_is_help=True)
keys_app = typer.Typer(help="Key-encryption keys.", no_args_is_help=True)
app.add_typer(token_app, name="token")
audit_app = typer.Typer(help="The tamper-evident access log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(help="Legal retention of transaction documents.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")


T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"pdvault: {message}", err=True)
    raise typer.Exit(code)


def get_settings() -> Settings:
    """The settings, or one line naming the bad variable (never its value: it may be secret)."""
    from pydantic import ValidationError

    try:
        return _load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = "PDVAULT_" + "__".join(str(p) for p in first["loc"]).upper()
        fail(f"invalid configuration: {variable}: {first['msg']}")


def _db_error(exc: BaseException) -> str:
    return f"database unavailable ({type(exc).__name__}); check PDVAULT_DATABASE_URL"


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; a key or database failure is one line and exit 1."""
    from pdvault.crypto.provider import KeyUnavailableError

    try:
        return asyncio.run(work)
    except KeyringError as exc:
        fail(str(exc))
    except KeyUnavailableError as exc:
        fail(f"{exc}; the keyring lacks a version still in use")
    except Exception as exc:
        fail(_db_error(exc))


def _migrate(settings: Settings) -> None:
    from pdvault.migrate import MigrationsNotFoundError, upgrade

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.effective_database_url, settings=settings)
    except MigrationsNotFoundError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(_db_error(exc))


def _check_keys(settings: Settings, *, create_transit_keys: bool = False) -> None:
    """The configured key provider works, or one clear line and exit 1."""
    from pdvault.main import load_key_provider, open_key_provider

    async def check() -> None:
        if create_transit_keys:
            from pdvault.crypto.transit import TransitKeyProvider

            provider = load_key_provider(settings)
            try:
                if isinstance(provider, TransitKeyProvider):
                    await provider.ensure_keys()
            finally:
                await provider.close()
        await (await open_key_provider(settings)).close()

    try:
        asyncio.run(check())
    except KeyringError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"key provider unusable ({type(exc).__name__}: {exc})")


def _check_keys_match(settings: Settings) -> None:
    """The keys are the ones this (migrated) database was written with, or one line and exit 1."""
    from pdvault.keys.match import check_keys_match
    from pdvault.main import open_key_provider

    async def check() -> None:
        keys = await open_key_provider(settings)
        try:
            await check_keys_match(settings, keys)
        finally:
            await keys.close()

    _run(check())


def _refuse_lost_keyring(settings: Settings) -> None:
    """A missing local keyring on a database already in use: one line saying to restore it."""
    if (
        settings.key_provider != "local"
        or settings.keys_json is not None
        or settings.keyring_path.exists()
        or (settings.database_url is None and not settings.sqlite_path.exists())
    ):
        return
    from pdvault.principals.bootstrap import database_in_use

    try:
        in_use = asyncio.run(database_in_use(settings))
    except Exception as exc:
        fail(_db_error(exc))
    if in_use:
        # A new keyring could read none of the data keys and would sign a second
        # history: restoring the lost one is the only fix.
        fail(
            f"keyring not found at {settings.keyring_path}, but the database is "
            "already in use: restore that keyring (a new one cannot read its data)"
        )


def _ensure_keyring(settings: Settings) -> bool:
    """Create the local keyring if absent (transit: the transit keys); validate either way.
    True when something was created."""
    created = False
    if (
        settings.key_provider == "local"
        and settings.keys_json is None
        and not settings.keyring_path.exists()
    ):
        _refuse_lost_keyring(settings)
        write_keyring(settings.keyring_path, new_keyring())
        created = True
    _check_keys(settings, create_transit_keys=settings.key_provider == "transit")
    return created


@app.command()
def init(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create keys if absent, migrate, and print the first admin token once."""
    settings = get_settings()
    keyring_created = _ensure_keyring(settings)
    _migrate(settings)
    _check_keys_match(settings)
    from pdvault.principals.bootstrap import ensure_first_admin

    try:
        token = asyncio.run(ensure_first_admin(settings))
    except Exception as exc:
        fail(_db_error(exc))
    changed = keyring_created or token is not None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "changed": changed,
                    "admin_token": token,
                    "keyring": str(settings.keyring_path) if settings.keys_json is None else None,
                    "keyring_created": keyring_created,
                    "database": "postgresql"
                    if settings.effective_database_url.startswith("postgresql")
                    else "sqlite",
                }
            )
        )
        return
    if token is None:
        typer.echo("pdvault is already initialised; nothing changed.")
        return
    if keyring_created:
        typer.echo(f"Created keyring at {settings.keyring_path} (mode 0600). Back it up.")
    typer.echo("Database migrated.")
    typer.echo("First admin token (shown once, store it now):")
    typer.echo(token)


@app.command()
def migrate() -> None:
    """Apply database migrations up to the latest revision."""
    settings = get_settings()
    _migrate(settings)
    typer.echo("Database is at the latest revision.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default PDVAULT_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default PDVAULT_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="Default PDVAULT_WORKERS")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from pdvault.migrate import current_revision, head_revision

    settings = get_settings()
    _refuse_lost_keyring(settings)
    _check_keys(settings)
    try:
        current = current_revision(settings.effective_database_url)
    except Exception as exc:
        fail(_db_error(exc))
    if current != head_revision(settings):
        fail("database schema is not current: run 'pdvault init' or 'pdvault migrate'")
    _check_keys_match(settings)
    uvicorn.run(
        "pdvault.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        access_log=False,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
    )


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="admin, storefront, employee, partner, legal, dpo, auditor")
    ],
    name: Annotated[str, typer.Option(help="Display name of the principal")],
    partner: Annotated[str | None, typer.Option(help="Partner id (partner role only)")] = None,
    days: Annotated[int, typer.Option(help="Days until the token expires")] = 90,
) -> None:
    """Create a principal and print a token for it (shown once)."""
    from pydantic import ValidationError

    from pdvault.policy import Role
    from pdvault.principals.bootstrap import create_principal_with_token
    from pdvault.principals.schemas import PrincipalIn

    try:
        data = PrincipalIn(
            name=name,
            role=Role(role),
            partner_id=uuid.UUID(partner) if partner else None,
        )
    except ValidationError as exc:
        fail(f"invalid principal: {exc.errors()[0]['msg']}")
    except ValueError:
        fail("invalid principal: unknown role or malformed partner id")
    if not 1 <= days <= 3650:
        fail("--days must be between 1 and 3650")
    settings = get_settings()
    _ensure_keyring(settings)
    from pdvault.errors import Problem

    try:
        token = asyncio.run(create_principal_with_token(settings, data, days))
    except Problem as exc:
        # The database answered and refused the input (an unknown partner): not an outage.
        fail(f"invalid principal: {exc.detail}")
    except Exception as exc:
        fail(_db_error(exc))
    typer.echo(token)


@keys_app.command("create")
def keys_create(
    out: Annotated[Path, typer.Option(help="Where to write the new keyring (mode 0600)")],
) -> None:
    """Write a new keyring file (for a container secret); refuses to overwrite."""
    try:
        write_keyring(out, new_keyring())
    except (KeyringError, OSError) as exc:
        fail(str(exc) if isinstance(exc, KeyringError) else f"cannot write {out}: {exc.strerror}")
    typer.echo(f"Created keyring at {out} (mode 0600).")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new key-encryption key version and make it primary at once."""
    from pdvault.keys.ops import rotate

    settings = get_settings()
    try:
        version = asyncio.run(rotate(settings))
    except KeyringError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the keyring: {exc.strerror}")
    typer.echo(
        f"key version {version} is primary; new data keys use it now. "
        "Run 'pdvault keys rewrap' to move the existing ones."
    )


@keys_app.command("rewrap")
def keys_rewrap(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Keys per transaction")] = 2000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
) -> None:
    """Re-wrap every data key under the primary version: online, batched, resumable."""
    from pdvault.keys.ops import run_rewrap

    settings = get_settings()
    bar: list[Any] = []

    def start(total: int) -> None:
        if not quiet:
            bar.append(typer.progressbar(length=total, label="rewrap", file=sys.stderr))
            bar[0].__enter__()

    def step(done: int) -> None:
        if bar:
            bar[0].update(done)

    try:
        moved = _run(run_rewrap(settings, batch, start, step))
    finally:
        if bar:
            bar[0].__exit__(None, None, None)
    typer.echo(f"rewrapped {moved} data keys")


@keys_app.command("status")
def keys_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Key versions, the primary, and how many data keys each still wraps."""
    from pdvault.keys.ops import status

    settings = get_settings()
    report = _run(status(settings))
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"provider {report['provider']}, primary version {report['primary']}")
    for v in report["versions"]:
        marks = ("primary " if v["primary"] else "") + ("" if v["held"] else "MISSING ")
        typer.echo(f"  v{v['version']}: {v['data_keys']} data keys {marks}".rstrip())
    typer.echo(f"{report['to_rewrap']} data keys wait for 'pdvault keys rewrap'")


@keys_app.command("retire")
def keys_retire(
    version: Annotated[int, typer.Argument(help="The key version to destroy")],
) -> None:
    """Destroy a key version; refused while any data key is still wrapped under it."""
    from pdvault.keys.ops import retire

    settings = get_settings()
    _run(retire(settings, version))
    typer.echo(f"key version {version} destroyed")


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Recompute every chain, writer and checkpoint; exit 1 naming the first bad seq."""
    from pdvault.audit.ops import run_verify

    settings = get_settings()
    result = _run(run_verify(settings))
    if as_json:
        typer.echo(json.dumps(result, default=str))
    elif result["ok"]:
        typer.echo(f"ok: {result['checked']} events verified")
    else:
        typer.echo(
            f"INVALID at seq {result['first_invalid_seq']}: {result['problem']} "
            f"({result['checked']} events verified before it)"
        )
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of every writer's head now."""
    from pdvault.audit.ops import run_checkpoint

    settings = get_settings()
    made = _run(run_checkpoint(settings))
    if made is None:
        typer.echo("nothing to checkpoint: the log is empty or unchanged since the last one")
    else:
        typer.echo(f"checkpoint {made['id']} at seq {made['seq']} ({made['events']} events)")


@app.command("config-reference")
def config_reference() -> None:
    """Print every PDVAULT_* setting with its default and meaning (Markdown)."""
    from pdvault.config_reference import reference_markdown

    sys.stdout.write(reference_markdown())


@retention_app.command("sweep")
def retention_sweep(
    batch: Annotated[int, typer.Option(help="Documents per transaction", min=1, max=10_000)] = 500,
) -> None:
    """Shred every document whose retention period has ended (each one logged).

    Documents of a customer on legal hold wait until the hold ends. Safe to re-run.
    """
    from pdvault.documents.ops import run_sweep

    settings = get_settings()
    shredded = _run(run_sweep(settings, batch))
    typer.echo(f"shredded {shredded} document(s) whose retention period had ended")


@app.command("seal-free-text")
def seal_free_text(
    batch: Annotated[int, typer.Option(help="Requests per transaction", min=1, max=10_000)] = 500,
) -> None:
    """Seal rejection reasons written before revision 0011 under their customer's data key.

    A reason about an already erased customer is dropped. Safe to re-run.
    """
    from pdvault.subjects.ops import run_seal_free_text

    settings = get_settings()
    moved = _run(run_seal_free_text(settings, batch))
    typer.echo(f"sealed or dropped {moved} clear rejection reason(s)")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document."""
    from pdvault.main import create_app

    doc = create_app(Settings()).openapi()
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def main() -> None:  # pragma: no cover
    app()
