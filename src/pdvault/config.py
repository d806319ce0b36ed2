"""Settings, read once from ``PDVAULT_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Controller(BaseModel):
    """The data controller named in the policy (POLICY.md §5): configuration, not code."""

    name: str = "CÔNG TY CP CƠ ĐIỆN & XUẤT NHẬP KHẨU TOÀN CẦU"
    address: str = "Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội"
    hotline: str = "0912 853 984"
    email: str = "sales@tomexco.com"
    website: str = "www.tomexco.com"


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
        default=None, description="Overrides the SQLite default, e.g. postgresql+asyncpg://..."
    )
    keyring: Path | None = Field(default=None, description="Local keyring path")
    keys_json: SecretStr | None = Field(
        default=None, description="Keyring JSON passed in the environment instead of a file"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    migrations_dir: Path | None = Field(default=None, description="Alembic scripts location")

    controller: Controller = Field(default_factory=Controller)
    policy_version: str = "2024-01"
    policy_text_file: Path | None = Field(
        default=None, description="Policy text served by /v1/policy (default: the packaged text)"
    )

    deletion_deadline_hours: int = Field(default=72, ge=1)
    breach_authority_deadline_hours: int = Field(default=72, ge=1)
    complaint_deadline_days: int = Field(default=30, ge=1)
    breach_fanout_batch: int = Field(
        default=5000, ge=1, le=50_000, description="Customers per batch of breach notices"
    )

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    batch_max_items: int = Field(default=1000, ge=1, le=10000)
    token_default_days: int = Field(default=90, ge=1, le=3650)
    auth_cache_seconds: float = Field(
        default=0.5, ge=0.0, le=1.0, description="How long a resolved token is trusted per worker"
    )
    db_pool_size: int = Field(default=10, ge=1)
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
    log_level: str = "INFO"

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
