"""A client generated from the contract, as partner teams make theirs (issue 20).

``openapi-python-client`` generates a package from openapi/openapi.json (with
openapi/client.yaml, as docs/integrator.md shows) into a temporary folder: the generator must
print no warning, every operation of the document must have its function, and the storefront,
partner and auditor flows of docs/integrator.md run with the generated package against a live
server on 127.0.0.1. The module brings its own SQLite database (``database_url`` below): the
test does not depend on the engine, so it runs once, on the SQLite side (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pdvault.config import Settings
from pdvault.migrate import upgrade
from pdvault.policy import Role
from pdvault.principals.bootstrap import create_principal_with_token
from pdvault.principals.schemas import PrincipalIn

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "openapi" / "openapi.json"
CONFIG = ROOT / "openapi" / "client.yaml"
PACKAGE = "pdvault_client"
SELF_SERVICE = "customer_self_service"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This module's own migrated SQLite database (overrides the engine-parametrized one)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('client-db') / 'pdvault.sqlite3'}"
    upgrade(url)
    return url


def generate(into: Path) -> subprocess.CompletedProcess[str]:
    """The command of docs/integrator.md (``test_the_guide_shows_this_command``); the
    generator formats its output with ruff, found on PATH beside this interpreter."""
    scripts = sysconfig.get_path("scripts")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(CONTRACT),
            "--config",
            str(CONFIG),
            "--meta",
            "none",
            "--output-path",
            str(into / PACKAGE),
        ],
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"},
        cwd=into,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ModuleType]]:
    """What the generator printed, and the generated package, imported."""
    into = tmp_path_factory.mktemp("client")
    result = generate(into)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(into))
    try:
        yield result.stdout + result.stderr, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(into))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def operations(package: ModuleType) -> dict[str, ModuleType]:
    """The generated module of each operation (``api/<tag>/<operation id>.py``), by name."""
    api = importlib.import_module(f"{package.__name__}.api")
    found = [
        info.name
        for info in pkgutil.walk_packages(api.__path__, prefix=f"{api.__name__}.")
        if not info.ispkg
    ]
    return {name.rsplit(".", 1)[-1]: importlib.import_module(name) for name in found}


def test_the_generator_warns_of_nothing_and_covers_every_operation(
    generated: tuple[str, ModuleType],
) -> None:
    output, package = generated
    said = [line for line in output.splitlines() if line.strip()]
    assert said == [f"Generating {Path(package.__file__ or '').parent}"], output
    doc = json.loads(CONTRACT.read_text(encoding="utf-8"))
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    functions = operations(package)
    assert set(functions) == ids
    for name, module in functions.items():
        for call in ("sync", "sync_detailed", "asyncio", "asyncio_detailed"):
            assert callable(getattr(module, call, None)), f"{name}.{call}"
    # One problem model shared by every operation, not one per operation and status.
    models = importlib.import_module(f"{PACKAGE}.models")
    assert hasattr(models, "Problem")
    assert not [m for m in dir(models) if "Response4" in m or "Response5" in m]


def test_the_guide_shows_this_command() -> None:
    guide = (ROOT / "docs" / "integrator.md").read_text(encoding="utf-8")
    command = " ".join(guide.split("openapi-python-client generate ", 1)[1].split()[:9])
    assert command == (
        "--path openapi/openapi.json --config openapi/client.yaml \\ --meta none "
        "--output-path pdvault_client"
    )


class Api:
    """``api.read_customer`` is the generated module of that operation."""

    def __init__(self, package: ModuleType) -> None:
        self._modules = operations(package)
        self.models = importlib.import_module(f"{package.__name__}.models")
        self._package = package

    def __getattr__(self, name: str) -> Any:
        return self._modules[name]

    def client(self, base_url: str, token: str) -> Any:
        return self._package.AuthenticatedClient(base_url=base_url, token=token, timeout=10)


@pytest.fixture
def live(
    generated: tuple[str, ModuleType],
    live_server_factory: Callable[..., Any],
    database_url: str,
) -> tuple[Api, Callable[[str], Any], Any]:
    """The generated API, a client per token on a live server, and an admin's client."""
    api = Api(generated[1])
    server = live_server_factory(workers=1)
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    admin = asyncio.run(
        create_principal_with_token(settings, PrincipalIn(name="client-admin", role=Role.ADMIN), 1)
    )

    def client(token: str) -> Any:
        return api.client(server.base_url, token)

    return api, client, client(admin)


def new_token(api: Api, admin: Any, role: str, name: str, partner_id: Any = None) -> str:
    """The guide's ``new_token``: a principal and its token, through the admin API."""
    m = api.models
    body = m.PrincipalIn(name=name, role=m.Role(role))
    if partner_id is not None:
        body.partner_id = partner_id
    principal = api.create_principal.sync(client=admin, body=body)
    assert isinstance(principal, m.PrincipalOut), principal
    created = api.issue_token.sync(principal.id, client=admin, body=m.TokenIn(expires_in_days=90))
    assert isinstance(created, m.TokenCreated), created
    token: str = created.token
    return token


def register(api: Api, shop: Any, number: str, email: str, key: str | None = None) -> uuid.UUID:
    m = api.models
    body = m.CustomerIn(
        full_name="Nguyễn Văn Mẫu",
        phone=f"0900 000 {number}",
        email=email,
        address="Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
        consents=m.ConsentFlags(processing=True, marketing=False),
        policy_version="2024-01",
    )
    answer = api.create_customer.sync_detailed(
        client=shop, body=body, **({"idempotency_key": key} if key else {})
    )
    assert answer.status_code == 201, answer.content
    customer_id: uuid.UUID = answer.parsed.id
    return customer_id


def test_the_integrator_guides_flows_run_with_the_generated_client(
    live: tuple[Api, Callable[[str], Any], Any],
) -> None:
    api, client, admin = live
    m = api.models
    shop = client(new_token(api, admin, "storefront", "storefront-backend"))
    staff = client(new_token(api, admin, "employee", "sales-desk"))
    dpo = client(new_token(api, admin, "dpo", "privacy-officer"))
    auditor = client(new_token(api, admin, "auditor", "external-auditor"))

    # Storefront: register, read, correct, consent, export, erase.
    cid = register(api, shop, "001", "khach.mau@example.com", key="signup-0001")
    read = api.read_customer.sync_detailed(
        cid, client=shop, purpose=m.ReadCustomerPurpose.CUSTOMER_SELF_SERVICE
    )
    assert read.status_code == 200
    patched = api.update_customer.sync(
        cid,
        client=shop,
        body=m.CustomerPatch(address="Số 2 Đường Ví Dụ, Phường Mẫu, Hà Nội"),
        purpose=m.UpdateCustomerPurpose.CUSTOMER_SELF_SERVICE,
        if_match=read.headers["etag"],
    )
    assert isinstance(patched, m.CustomerOut), patched
    assert patched.version == 2
    found = api.search_customers.sync(
        client=staff,
        body=m.SearchIn(phone="+84 900 000 001", purpose=m.SearchInPurpose.ORDER_CONFIRMATION),
    )
    assert [hit.id for hit in found.items] == [cid]
    refused = api.read_customer.sync(cid, client=staff, purpose=m.ReadCustomerPurpose.MARKETING)
    assert isinstance(refused, m.Problem), refused
    assert (refused.status, refused.reason) == (403, "consent_missing")
    recorded = api.record_consent.sync(
        cid,
        client=shop,
        body=m.ConsentIn(
            kind=m.ConsentInKind.MARKETING,
            granted=True,
            source="storefront_settings",
            policy_version="2024-01",
        ),
    )
    assert recorded.current.marketing is True
    marketing = api.read_customer.sync(cid, client=staff, purpose=m.ReadCustomerPurpose.MARKETING)
    assert sorted(marketing.fields.to_dict()) == ["email", "full_name"]
    export = api.export_customer.sync(cid, client=shop)
    assert isinstance(export, m.Export), export
    assert export.consents.current.marketing is True
    assert export.access_report
    report = api.read_access_report.sync(cid, client=shop)
    assert "sales-desk" in [item.actor for item in report.items]
    filed = api.file_deletion_request.sync(
        client=shop,
        body=m.DeletionRequestIn(customer_id=cid, channel=m.DeletionRequestInChannel.STOREFRONT),
    )
    approved = api.approve_deletion_request.sync(filed.id, client=dpo)
    assert approved.status == "executed"
    gone = api.read_customer.sync(cid, client=shop, purpose=m.ReadCustomerPurpose(SELF_SERVICE))
    assert isinstance(gone, m.Problem)
    assert gone.status == 410
    notices = api.list_notifications.sync(client=shop)
    (notice,) = [n for n in notices.items if n.customer_id == cid]
    assert api.acknowledge_notification.sync(notice.id, client=shop).delivered_at is not None

    # Partners: a grant, an assignment, a masked read.
    partner = api.create_partner.sync(
        client=admin, body=m.PartnerIn(name="Giao Hàng Mẫu", contract_ref="HD-MAU-001")
    )
    grant = api.create_grant.sync_detailed(
        partner.id,
        client=admin,
        body=m.GrantIn.from_dict(
            {
                "contract_ref": "HD-MAU-001",
                "purposes": ["order_fulfillment"],
                "fields": {"full_name": "plain", "phone": "masked", "address": "plain"},
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2099-01-01T00:00:00Z",
            }
        ),
    )
    assert grant.status_code == 201, grant.content
    courier = client(new_token(api, admin, "partner", "courier-system", partner.id))
    buyer = register(api, shop, "002", "tran.mau@example.com")
    assignment = api.create_assignment.sync_detailed(
        partner.id,
        client=staff,
        body=m.AssignmentIn(
            customer_id=buyer,
            purpose="order_fulfillment",
            reference="DH-MAU-0001",
            expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        ),
    )
    assert assignment.status_code == 201, assignment.content
    seen = api.partner_read_customer.sync(
        buyer, client=courier, purpose=m.PartnerReadCustomerPurpose.ORDER_FULFILLMENT
    )
    assert isinstance(seen, m.PartnerCustomerOut), seen
    assert seen.fields.to_dict()["phone"] == "*********002"
    assert seen.masked == ["phone"]

    # Auditors: the log, its proof, the key, the export.
    events = api.list_audit_events.sync(client=auditor, customer_id=buyer, limit=10)
    assert "partner.customer.read" in [e.action for e in events.items]
    assert api.verify_audit_log.sync(client=auditor).ok is True
    assert api.read_public_key.sync(client=auditor).algorithm == "Ed25519"
    lines = api.export_audit_events.sync(
        client=auditor, outcome=m.ExportAuditEventsOutcomeType0.DENIED
    )
    assert isinstance(lines, str), lines
    denied = [m.EventOut.from_dict(json.loads(line)) for line in lines.splitlines()]
    assert denied
    assert {e.outcome for e in denied} == {"denied"}
    assert "consent_missing" in {e.reason for e in denied}
