"""Every table, imported in one place so Alembic and tests see the whole schema."""

from pdvault.audit.models import AccessEvent
from pdvault.customers.models import Consent, Customer
from pdvault.db import Base
from pdvault.idempotency import IdempotencyRecord
from pdvault.principals.models import Principal, Token

__all__ = ["AccessEvent", "Base", "Consent", "Customer", "IdempotencyRecord", "Principal", "Token"]
