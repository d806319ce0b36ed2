"""The ``pdvault`` command. Every failure is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from pdvault.config import Settings
from pdvault.config import get_settings as _load_settings
from pdvault.crypto.keyring import KeyringError, new_keyring, write_keyring


# Plain (not rich) help: typer's rich help labels a flag such as --json "<bool>", as if it took
# a value; plain help shows a flag as a flag.
def _group(help_text: str, *, pretty_exceptions: bool = True) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=pretty_exceptions,
    )


app = _group("pdvault: a personal-data vault.", pretty_exceptions=False)
token_app = _group("Tokens for principals.")
keys_app = _group("Key-encryption keys.")
app.add_typer(token_app, name="token")
audit_app = _group("The tamper-evident access log.")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
retention_app = _group("Legal retention of transaction documents.")
app.add_typer(retention_app, name="retention")
erasure_app = typer.Typer(help="Erased customers (docs/erasure.md).", no_args_is_help=True)
app.add_typer(erasure_app, name="erasure")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"pdvault {version('pdvault')}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """pdvault: a personal-data vault."""


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
    """The database fault in words (missing database, refused connection, unknown role...)."""
    from pdvault.db import describe_database_error

    return describe_database_error(exc, _load_settings().effective_database_url)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; a key or database failure is one line and exit 1."""
    from pdvault.crypto.provider import KeyUnavailableError
    from pdvault.errors import Problem

    try:
        return asyncio.run(work)
    except Problem as exc:  # refused by the service, in its own words (no value in them)
        fail(exc.detail)
    except KeyringError as exc:
        fail(str(exc))
    except KeyUnavailableError as exc:
        fail(f"{exc}; the keyring lacks a version still in use")
    except Exception as exc:
        fail(_db_error(exc))


def _migrate(settings: Settings) -> None:
    from pdvault.migrate import MigrationsNotFoundError, upgrade

    if settings.database_url is None:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        upgrade(settings.effective_database_url, settings=settings)
    except MigrationsNotFoundError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(_db_error(exc))


def _check_keys(settings: Settings, *, create_transit_keys: bool = False) -> None:
    """The configured key provider works, or one clear line and exit 1."""
    from pdvault.crypto.factory import load_key_provider, open_key_provider

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
    from pdvault.crypto.factory import open_key_provider
    from pdvault.keys.match import check_keys_match

    async def check() -> None:
        keys = await open_key_provider(settings)
        try:
            await check_keys_match(settings, keys)
        finally:
            await keys.close()

    _run(check())


def _data_upgrades(settings: Settings, *, reindex_emails: bool = False) -> list[str]:
    """Run the data upgrades a migration left for the keys (pdvault/upgrades.py); their report.

    Nothing pending and nothing asked for: no keys needed, nothing printed.
    """
    from pdvault.customers.reindex import EMAIL_REINDEX, run_email_reindex
    from pdvault.upgrades import pending_in

    pending = _run(pending_in(settings))
    if EMAIL_REINDEX not in pending and not reindex_emails:
        return []
    _refuse_lost_keyring(settings)
    _check_keys(settings)
    _check_keys_match(settings)
    return _run(run_email_reindex(settings)).lines()


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
    upgrades = _data_upgrades(settings)
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
                    "data_upgrades": upgrades,
                }
            )
        )
        return
    for line in upgrades:
        typer.echo(line)
    if token is None:
        typer.echo("pdvault is already initialised; nothing changed.")
        return
    if keyring_created:
        typer.echo(f"Created keyring at {settings.keyring_path} (mode 0600). Back it up.")
    typer.echo("Database migrated.")
    typer.echo("First admin token (shown once, store it now):")
    typer.echo(token)


@app.command()
def migrate(
    reindex_emails: Annotated[
        bool,
        typer.Option(
            "--reindex-emails",
            help="Rebuild the email indexes even if no migration asks to, and list the "
            "customers whose emails still collide (by id)",
        ),
    ] = False,
) -> None:
    """Apply database migrations up to the latest revision, then any data upgrade they ask
    for that needs the keys (rebuilding the email indexes)."""
    settings = get_settings()
    _migrate(settings)
    for line in _data_upgrades(settings, reindex_emails=reindex_emails):
        typer.echo(line)
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
    from pdvault.upgrades import pending_in

    pending = _run(pending_in(settings))
    if pending:
        fail(f"a data upgrade is pending ({', '.join(pending)}): run 'pdvault migrate'")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create a principal and print its token's id, then the token (shown once)."""
    from pydantic import ValidationError

    from pdvault.policy import Role
    from pdvault.principals.bootstrap import create_principal_and_token
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
        created = asyncio.run(create_principal_and_token(settings, data, days))
    except Problem as exc:
        # The database answered and refused the input (an unknown partner, a name already
        # taken): not an outage.
        fail(f"invalid principal: {exc.detail}")
    except Exception as exc:
        fail(_db_error(exc))
    if as_json:
        typer.echo(created.model_dump_json())
        return
    typer.echo(
        f"token id {created.id} (principal {created.principal_id}), expires "
        f"{created.expires_at.isoformat()}; revoke with 'pdvault token revoke {created.id}'"
    )
    typer.echo(created.token)


def _uuid_or_fail(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"not a {what} id")


@token_app.command("list")
def token_list(
    principal: Annotated[
        str | None, typer.Option(help="Only this principal's tokens (its id)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array")] = False,
) -> None:
    """List tokens: id, principal, created, expires, revoked. Never a token itself."""
    from pdvault.principals.bootstrap import list_tokens

    principal_id = _uuid_or_fail(principal, "principal") if principal is not None else None
    settings = get_settings()
    tokens = _run(list_tokens(settings, principal_id))
    if as_json:
        typer.echo(json.dumps(tokens))
        return
    now = datetime.now(UTC)
    for t in tokens:
        expired = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00")) <= now
        state = (
            f"revoked {t['revoked_at']}"
            if t["revoked_at"]
            else ("expired" if expired else "active")
        )
        typer.echo(
            f"{t['id']}  {t['role']:<10} {t['principal_name']}  (principal {t['principal_id']})"
            f"  created {t['created_at']}  expires {t['expires_at']}  {state}"
        )
    if not tokens:
        typer.echo("no tokens")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from 'pdvault token list')")],
) -> None:
    """Revoke a token: it stops working within a second on every worker."""
    from pdvault.principals.bootstrap import revoke_token

    tid = _uuid_or_fail(token_id, "token")
    settings = get_settings()
    revoked = _run(revoke_token(settings, tid))
    typer.echo(f"token {revoked.id} revoked at {revoked.revoked_at.isoformat()}")


@keys_app.command("create")
def keys_create(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the new keyring (mode 0600); default: the configured keyring "
            "(PDVAULT_KEYRING, else keyring.json in the data dir)"
        ),
    ] = None,
) -> None:
    """Write a new keyring file (e.g. into a container's mounted folder); never overwrites."""
    if out is None:
        out = get_settings().keyring_path
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
    niceness: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="How far to lower this command's CPU priority, so the servers' requests "
            "keep the cores (0: full speed, for a maintenance window)",
        ),
    ] = 10,
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
        moved = _run(run_rewrap(settings, batch, start, step, niceness))
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
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Check the whole log (the nightly job); by default only what came after the "
            "last checkpoint a successful run verified",
        ),
    ] = False,
) -> None:
    """Verify the log from the last verified checkpoint (--full: all of it); exit 1 naming the
    first bad seq. Every run is recorded (GET /v1/audit/verify/runs)."""
    from pdvault.audit.ops import run_verify

    settings = get_settings()
    result = _run(run_verify(settings, full=full))
    if as_json:
        typer.echo(json.dumps(result, default=str))
    elif result["ok"]:
        scope = (
            f"after checkpoint {result['from_checkpoint_id']}"
            if result["mode"] == "incremental"
            else "the whole log"
        )
        typer.echo(f"ok: {result['checked']} events verified ({result['mode']}: {scope})")
    else:
        typer.echo(
            f"INVALID at seq {result['first_invalid_seq']}: {result['problem']} "
            f"({result['checked']} events verified before it)"
        )
    erased = result["erased_with_keys"]
    if erased and not as_json:
        typer.echo(
            f"warning: {len(erased)} customer(s) the log says were erased hold key material "
            f"again (a restore?); run 'pdvault erasure reapply --since {erased[0]['erased_at']}'",
            err=True,
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
    from pdvault.erasure.ops import run_settle

    settings = get_settings()
    shredded = _run(run_sweep(settings, batch))
    typer.echo(f"shredded {shredded} document(s) whose retention period had ended")
    settled = _run(run_settle(settings))
    if settled.settled or settled.pending:  # erasures whose storage was not settled yet
        typer.echo(f"erasures: {settled.settled} settled, {settled.pending} still pending")
    if settled.pending:
        fail(
            f"{settled.pending} erasure(s) still pending: a reader holds an older snapshot of "
            "the database; run the sweep again once it has finished"
        )


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time, e.g. 2026-12-01T00:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@erasure_app.command("reapply")
def erasure_reapply(
    since: Annotated[
        datetime,
        typer.Option(
            parser=_since,
            metavar="ISO-TIME",
            help="Re-shred customers erased at or after this time (the backup's time)",
        ),
    ],
    customer: Annotated[
        list[uuid.UUID] | None,
        typer.Option(help="Also this customer id (from a ledger kept outside the database)"),
    ] = None,
) -> None:
    """Re-shred every customer the erasure ledger says is erased but who holds key material
    again (after a restore). Customers already shredded are left alone: safe to re-run."""
    from pdvault.erasure.ops import run_reapply

    settings = get_settings()
    report = _run(run_reapply(settings, since, customer or ()))
    typer.echo(
        f"checked {report.checked} erased customer(s); re-shredded {report.reshredded}; "
        f"storage {'settled' if report.settled else 'pending'}"
    )
    if not report.settled:
        fail("storage not settled: a reader holds an older snapshot; run 'pdvault retention sweep'")


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
