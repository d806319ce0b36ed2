"""Every table, imported in one place so Alembic and tests see the whole schema."""

from pdvault.audit.ledger import AuditCheckpoint, AuditVerifyRun, AuditWriter
from pdvault.audit.models import AccessEvent
from pdvault.console.models import ConsoleSession
from pdvault.customers.models import Consent, Customer
from pdvault.db import Base
from pdvault.documents.models import Document
from pdvault.erasure.models import DeletionRequest
from pdvault.governance.models import Breach, BreachCustomer, Complaint, ComplaintTransition
from pdvault.governance.paperwork_models import PaperworkVersion
from pdvault.idempotency import IdempotencyRecord
from pdvault.judicial.models import JudicialRequest, JudicialRequestCustomer
from pdvault.notifications.models import Notification
from pdvault.partners.models import Assignment, Grant, Partner
from pdvault.principals.models import Principal, Token
from pdvault.subjects.models import AccessRequest
from pdvault.upgrades import DataUpgrade

__all__ = [
    "AccessEvent",
    "AccessRequest",
    "Assignment",
    "AuditCheckpoint",
    "AuditVerifyRun",
    "AuditWriter",
    "Base",
    "Breach",
    "BreachCustomer",
    "Complaint",
    "ComplaintTransition",
    "Consent",
    "ConsoleSession",
    "Customer",
    "DataUpgrade",
    "DeletionRequest",
    "Document",
    "Grant",
    "IdempotencyRecord",
    "JudicialRequest",
    "JudicialRequestCustomer",
    "Notification",
    "PaperworkVersion",
    "Partner",
    "Principal",
    "Token",
]
