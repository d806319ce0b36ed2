"""Settings, read once from ``PDVAULT_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pdvault.db import normalise_database_url

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?")


def _split_origins(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Controller(BaseModel):
    """The data controller named in the policy (docs/policy.md §5): configuration, not code."""

    name: str = Field(
        default="CÔNG TY CP CƠ ĐIỆN & XUẤT NHẬP KHẨU TOÀN CẦU", description="Controller's name"
    )
    address: str = Field(
        default="Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội", description="Postal address"
    )
    hotline: str = Field(default="0912 853 984", description="Hotline for privacy questions")
    email: str = Field(default="sales@tomexco.com", description="Contact email")
    website: str = Field(default="www.tomexco.com", description="Website")


class Paperwork(BaseModel):
    """Issue 21: what the regulator's paperwork (the breach notice, the impact assessment) says
    of the controller beyond ``controller``, and the law it cites. Defaults are fictional."""

    place: str = Field(default="Hà Nội", description="Place written on the documents' date line")
    contact_point: str = Field(
        default="Bộ phận Chăm sóc khách hàng (ví dụ), 1900 0000, lienhe@cuahang.example",
        description="Contact point for the authority (name of the unit, phone, email)",
    )
    dpo_unit: str = Field(
        default="Bộ phận Bảo vệ dữ liệu cá nhân (ví dụ)",
        description="The controller's data-protection department",
    )
    dpo_contact: str = Field(
        default="Cán bộ bảo vệ dữ liệu (ví dụ), 1900 0001, dpo@cuahang.example",
        description="The data-protection officer's contact (a role address, not a person's)",
    )
    processing_started: date = Field(
        default=date(2026, 1, 1),
        description="The day processing of personal data started (the assessment is due to "
        "the authority 60 days after)",
    )
    assessment_submission_days: int = Field(
        default=60, ge=1, le=365, description="Days after the start to send the assessment"
    )
    authority: str = Field(
        default="Cục An ninh mạng và phòng, chống tội phạm sử dụng công nghệ cao (A05), Bộ Công an",
        description="The authority the documents are addressed to",
    )
    law: str = Field(
        default="Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 (hiệu lực từ 01/01/2026)",
        description="The law the documents cite",
    )
    decree: str = Field(
        default="Nghị định số 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân",
        description="The decree the documents cite",
    )
    notice_article: str = Field(
        default="Điều 23", description="The decree's article on notifying a breach"
    )
    notice_form: str = Field(default="Mẫu số 03", description="The breach notice's form number")
    assessment_article: str = Field(
        default="Điều 24", description="The decree's article on the impact assessment"
    )


class Transit(BaseModel):
    """OpenBao / HashiCorp Vault transit, when ``key_provider`` is ``transit``."""

    addr: str = Field(default="http://127.0.0.1:8200", description="Transit server address")
    token: SecretStr | None = Field(default=None, description="Token allowed to use the keys")
    key: str = Field(
        default="pdvault",
        pattern=r"^[A-Za-z0-9_.\-]{1,64}$",
        description="Transit key wrapping data keys (`<key>-secrets` derives the index key)",
    )
    mount: str = Field(
        default="transit", pattern=r"^[A-Za-z0-9_.\-/]{1,128}$", description="Transit mount"
    )


class Settings(BaseSettings):
    """Every knob of the service. Defaults work on a fresh machine (SQLite + local keyring)."""

    model_config = SettingsConfigDict(
        env_prefix="PDVAULT_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(default=Path("./pdvault-data"), description="SQLite file and keyring")
    database_url: str | None = Field(
        default=None,
        description="Overrides the SQLite default, e.g. postgresql://user:pw@host/db (asyncpg)",
    )
    keyring: Path | None = Field(default=None, description="Local keyring path")
    keys_json: SecretStr | None = Field(
        default=None, description="Keyring JSON passed in the environment instead of a file"
    )
    key_provider: Literal["local", "transit"] = Field(
        default="local", description="local keyring, or OpenBao / Vault transit"
    )
    transit: Transit = Field(default_factory=Transit)
    host: str = Field(default="127.0.0.1", description="Where `pdvault serve` listens")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `pdvault serve` listens on")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes")
    migrations_dir: Path | None = Field(default=None, description="Alembic scripts location")

    controller: Controller = Field(default_factory=Controller)
    paperwork: Paperwork = Field(default_factory=Paperwork)
    policy_version: str = Field(default="2024-01", description="Served by /v1/policy")
    policy_text_file: Path | None = Field(
        default=None, description="Policy text served by /v1/policy (default: the packaged text)"
    )

    deletion_deadline_hours: int = Field(
        default=72, ge=1, description="A deletion request is due this long after filing"
    )
    access_request_deadline_hours: int = Field(
        default=72, ge=1, description="An access request is due this long after filing"
    )
    breach_authority_deadline_hours: int = Field(
        default=72,
        ge=1,
        description="The authority must hear of a breach this long after detection",
    )
    judicial_unapproved_hold_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="An unapproved judicial request stops holding its customers this long "
        "after filing",
    )
    complaint_deadline_days: int = Field(
        default=30, ge=1, description="A complaint is due an answer this many days after receipt"
    )
    breach_fanout_batch: int = Field(
        default=5000, ge=1, le=50_000, description="Customers per batch of breach notices"
    )

    retention_years_invoice: int = Field(
        default=10, ge=0, le=100, description="Years an invoice is kept (0: no legal retention)"
    )
    retention_years_receipt: int = Field(default=10, ge=0, le=100, description="... a receipt")
    retention_years_contract: int = Field(default=10, ge=0, le=100, description="... a contract")
    retention_years_other: int = Field(
        default=0, ge=0, le=100, description="... any other document (0: shredded on erasure)"
    )

    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Request body limit (413 above)"
    )
    max_document_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Document upload limit (413 above)"
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Time a request body has to arrive in full, from the end of its headers; "
        "408 and the connection closed after it",
    )
    batch_max_items: int = Field(
        default=1000, ge=1, le=10000, description="Customers per batch import"
    )
    token_default_days: int = Field(
        default=90, ge=1, le=3650, description="Token lifetime when none is asked for"
    )
    auth_cache_seconds: float = Field(
        default=0.5, ge=0.0, le=1.0, description="How long a resolved token is trusted per worker"
    )
    auth_failure_limit: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Failed bearer authentications one client address may make per window, "
        "per worker; then its tokens that fail are 429 (a valid token never is)",
    )
    auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="The sliding window those failures count in"
    )
    auth_failure_max_clients: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Client addresses tracked per worker (least recently failing dropped first)",
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Proxies in front that append to X-Forwarded-For; 0 ignores the header "
        "and uses the TCP peer",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated browser origins allowed by CORS (empty: CORS off)",
    )
    docs_enabled: bool = Field(
        default=True,
        description="Serve /docs, /redoc and /openapi.json (turn off in production)",
    )
    hsts_max_age: int = Field(
        default=0,
        ge=0,
        le=63_072_000,
        description="Strict-Transport-Security max-age; set only when clients reach the "
        "service over HTTPS (0: no header)",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="Database connections per worker (as many more on burst); SQLite files too",
    )
    db_lock_timeout_ms: int = Field(
        default=5000, ge=1, description="PostgreSQL lock_timeout: a locked table fails fast (503)"
    )
    audit_slots: int = Field(
        default=8, ge=1, le=256, description="Access-log chains per process (concurrent appends)"
    )
    audit_checkpoint_every_events: int = Field(
        default=10_000, ge=1, description="Sign a checkpoint after this many events here"
    )
    audit_checkpoint_every_seconds: float = Field(
        default=60.0, gt=0, description="... or after this many seconds"
    )
    bench_disable_audit_log: bool = Field(
        default=False,
        description="Benchmark baseline only: write no access events. Never in production.",
    )
    console: bool = Field(
        default=True,
        description="Serve the web console at /console (false: every /console URL is 404)",
    )
    console_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A console session unused this long ends (sign in again)",
    )
    console_lifetime_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="A console session ends this long after sign-in, however busy",
    )
    console_secure_cookie: bool = Field(
        default=False,
        description="Mark the console's session cookie Secure (set it when the console is "
        "reached over HTTPS)",
    )
    console_origin: str = Field(
        default="",
        description="The console's origin as browsers see it (scheme://host[:port]), checked "
        "against each form post's Origin or Referer; empty: the request's own Host",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    http_access_log: bool = Field(
        default=False,
        description="One log line per HTTP request at INFO (method, route template, status, "
        "duration; never the path, query or body). Off: at DEBUG only; the access-event log "
        "records reads",
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """``postgresql://`` and ``postgres://`` mean asyncpg (never SQLAlchemy's default
        driver, which is not installed); an unsupported scheme is refused here."""
        return normalise_database_url(value) if value else value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for origin in _split_origins(value):
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    "each CORS origin is scheme://host[:port], no path and no wildcard"
                )
        return value

    @field_validator("console_origin")
    @classmethod
    def _console_origin_is_origin(cls, value: str) -> str:
        if value and not _ORIGIN.fullmatch(value):
            raise ValueError("the console origin is scheme://host[:port], no path")
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return _split_origins(self.cors_origins)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "pdvault.sqlite3"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def keyring_path(self) -> Path:
        return self.keyring if self.keyring is not None else self.data_dir / "keyring.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
