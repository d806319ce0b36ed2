"""Issue 21: the regulator's paperwork, drafted from what the vault holds and enforces.

* The breach notice (Decree 13/2023/ND-CP Art. 23, Form No. 03) from the breach register and
  the subject-notification outbox.
* The personal-data processing impact assessment (Art. 24) from the rule table, the field
  protection, the partners' grants, the retention settings, the key provider, the access log
  and the compliance figures of a period.

Each draft is a typed structure (the facts, as JSON) plus ``document``: the same facts as
numbered sections of text in one language (Vietnamese by default, English on request), which
the PDF (``paperwork_pdf``) and the console's preview lay out. Only counts, categories and the
shop's own settings go in: never a customer's value. What the vault cannot know is a line
marked ``to_fill`` for the DPO to write. The documents' texts live here, not in the console's
catalogue: they are legal text that follows the law, not the console's interface.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.audit.writer import ALLOWED, EventDraft
from pdvault.auth.principal import Actor
from pdvault.config import Settings
from pdvault.customers.models import Customer
from pdvault.db import utcnow
from pdvault.documents.schemas import DocumentKind
from pdvault.documents.service import retention_years
from pdvault.governance.models import Breach, BreachCustomer
from pdvault.governance.paperwork_models import PaperworkVersion
from pdvault.governance.report_schemas import (
    AccessCount,
    BreachFigures,
    ComplaintFigures,
    DeletionFigures,
    DenialCount,
)
from pdvault.governance.reports import (
    compliance_report,
    decided_by_lateness,
    requests_overdue,
    requests_received,
)
from pdvault.notifications.service import breach_notice_counts
from pdvault.partners.masking import MASKS
from pdvault.partners.models import Grant, Partner
from pdvault.policy import Operation
from pdvault.policy.rules import ALL_FIELDS, RULES, Access, Condition, Purpose, Role
from pdvault.runtime import Runtime
from pdvault.subjects.models import AccessRequest

Language = Literal["vi", "en"]
Kind = Literal["breach_notice", "impact_assessment"]
BREACH_NOTICE: Kind = "breach_notice"
IMPACT_ASSESSMENT: Kind = "impact_assessment"
SHOP_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# Fictional values, only to show what a partner sees of a masked field (never a customer's).
MASK_SAMPLES: dict[str, str] = {
    "full_name": "Nguyễn Văn Mẫu",
    "phone": "0900000123",
    "email": "khach@vidu.example",
    "address": "Số 1 Đường Mẫu, Phường Mẫu, Hà Nội",
}


# -- the document as text ------------------------------------------------------------------


class DocumentLine(BaseModel):
    label: str
    value: str
    to_fill: bool = Field(
        default=False, description="The vault cannot know this: the DPO writes it"
    )


class DocumentSection(BaseModel):
    number: int
    title: str
    lines: list[DocumentLine]


class PaperworkDocument(BaseModel):
    """The document as it is printed: header, title, numbered sections, signature block."""

    language: Language
    national_header: list[str]
    issuer: list[str]
    place_date: str
    form: str
    title: str
    recipient: str
    legal_basis: list[str]
    sections: list[DocumentSection]
    signature: list[str]


# -- shared facts --------------------------------------------------------------------------


class ControllerFacts(BaseModel):
    name: str
    address: str
    hotline: str
    email: str
    website: str
    dpo_unit: str
    dpo_contact: str
    contact_point: str


class LegalFacts(BaseModel):
    law: str
    decree: str
    notice_article: str
    notice_form: str
    assessment_article: str
    authority: str
    place: str


def controller_facts(settings: Settings) -> ControllerFacts:
    c, p = settings.controller, settings.paperwork
    return ControllerFacts(
        name=c.name,
        address=c.address,
        hotline=c.hotline,
        email=c.email,
        website=c.website,
        dpo_unit=p.dpo_unit,
        dpo_contact=p.dpo_contact,
        contact_point=p.contact_point,
    )


def legal_facts(settings: Settings) -> LegalFacts:
    p = settings.paperwork
    return LegalFacts(
        law=p.law,
        decree=p.decree,
        notice_article=p.notice_article,
        notice_form=p.notice_form,
        assessment_article=p.assessment_article,
        authority=p.authority,
        place=p.place,
    )


# -- the breach notice (Form No. 03) -------------------------------------------------------


class BreachFacts(BaseModel):
    id: uuid.UUID
    detected_at: datetime
    recorded_at: datetime
    summary: str = Field(description="The register's summary (validated: no email, no phone)")
    data_categories: list[str]
    all_customers: bool
    affected_count: int = Field(description="Customers affected, from the register")
    named_customers: int = Field(description="Customers the register names (0: all customers)")
    notices_queued: int = Field(description="Subject notices in the outbox for this breach")
    notices_delivered: int = Field(description="Of those, delivered")
    subjects_notified_at: datetime | None
    deadline_hours: int
    authority_due_at: datetime
    authority_notified_at: datetime | None
    authority: str | None
    authority_reference: str | None
    late: bool = Field(description="Notified (or, if not yet, now) after the deadline")
    hours_late: float = Field(description="Hours past the deadline; 0 when on time")


class AuthorityNotice(BaseModel):
    kind: Literal["breach_notice"] = "breach_notice"
    generated_at: datetime
    controller: ControllerFacts
    legal: LegalFacts
    breach: BreachFacts
    to_fill: list[str] = Field(description="Labels of the lines the DPO still has to write")
    document: PaperworkDocument


# -- the impact assessment (Art. 24) -------------------------------------------------------


class PurposeFacts(BaseModel):
    purpose: str
    roles: list[str]
    fields: list[str]
    access: list[str]
    condition: str
    legal: bool
    description: str


class FieldFacts(BaseModel):
    field: str
    encrypted: bool = Field(description="Sealed under the customer's own data key")
    blind_index: bool = Field(description="Searchable by an HMAC blind index, not by value")
    masked_example: str = Field(description="A fictional value as a partner with 'masked' sees")


class GrantFacts(BaseModel):
    id: uuid.UUID
    contract_ref: str
    purposes: list[str]
    fields: dict[str, str]
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None
    in_force: bool


class PartnerFacts(BaseModel):
    id: uuid.UUID
    name: str
    contract_ref: str
    grants: list[GrantFacts]


class RetentionFacts(BaseModel):
    kind: str
    years: int


class KeyFacts(BaseModel):
    provider: str
    primary_version: int
    versions_held: list[int]


class LogFacts(BaseModel):
    every_access_logged: bool = True
    hash_chained: bool = True
    chains: int
    checkpoint_every_events: int
    checkpoint_every_seconds: float


class RequestFigures(BaseModel):
    received: int
    on_time: int
    late: int
    overdue: int


class PeriodFigures(BaseModel):
    since: datetime
    until: datetime
    live_customers: int
    accesses: list[AccessCount]
    denials: list[DenialCount]
    deletion_requests: DeletionFigures
    access_requests: RequestFigures
    complaints: ComplaintFigures
    breaches: BreachFigures


class AssessmentFacts(BaseModel):
    kind: Literal["impact_assessment"] = "impact_assessment"
    generated_at: datetime
    controller: ControllerFacts
    legal: LegalFacts
    processing_started: date
    submission_due: date
    submission_days: int
    purposes: list[PurposeFacts]
    fields: list[FieldFacts]
    partners: list[PartnerFacts]
    retention: list[RetentionFacts]
    keys: KeyFacts
    access_log: LogFacts
    figures: PeriodFigures


class ImpactAssessment(AssessmentFacts):
    to_fill: list[str]
    document: PaperworkDocument


# -- texts ---------------------------------------------------------------------------------

TO_FILL = {"vi": "[Bộ phận bảo vệ dữ liệu điền]", "en": "[To be completed by the DPO]"}

HEADER = {
    "vi": ["CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"],
    "en": ["SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness"],
}

CATEGORY = {
    "vi": {
        "full_name": "Họ và tên",
        "phone": "Số điện thoại",
        "email": "Địa chỉ thư điện tử",
        "address": "Địa chỉ",
        "documents": "Chứng từ giao dịch (hoá đơn, biên lai, hợp đồng)",
    },
    "en": {
        "full_name": "Full name",
        "phone": "Phone number",
        "email": "Email address",
        "address": "Postal address",
        "documents": "Transaction documents (invoices, receipts, contracts)",
    },
}

ROLE = {
    "vi": {
        Role.ADMIN: "quản trị",
        Role.STOREFRONT: "hệ thống cửa hàng",
        Role.EMPLOYEE: "nhân viên",
        Role.PARTNER: "đối tác",
        Role.LEGAL: "pháp chế",
        Role.DPO: "bảo vệ dữ liệu",
        Role.AUDITOR: "kiểm toán",
    },
    "en": {
        Role.ADMIN: "administrator",
        Role.STOREFRONT: "storefront system",
        Role.EMPLOYEE: "employee",
        Role.PARTNER: "partner",
        Role.LEGAL: "legal",
        Role.DPO: "data-protection officer",
        Role.AUDITOR: "auditor",
    },
}

PURPOSE_VI = {
    Purpose.REGISTRATION: "Đăng ký khách hàng",
    Purpose.ORDER_CONFIRMATION: "Xác nhận đơn hàng",
    Purpose.PRODUCT_CONSULTATION: "Tư vấn sản phẩm",
    Purpose.PRODUCT_INFORMATION: "Gửi thông tin sản phẩm",
    Purpose.MARKETING: "Tiếp thị qua thư điện tử",
    Purpose.SPECIAL_CASE_SUPPORT: "Hỗ trợ trường hợp đặc biệt",
    Purpose.CUSTOMER_SELF_SERVICE: "Khách hàng tự phục vụ",
    Purpose.LEGAL_NOTICE: "Gửi thông báo pháp lý",
    Purpose.ORDER_FULFILLMENT: "Thực hiện đơn hàng (đối tác)",
    Purpose.JUDICIAL_DISCLOSURE: "Cung cấp cho cơ quan tư pháp",
    Purpose.COMPLAINT_HANDLING: "Giải quyết khiếu nại",
    Purpose.DATA_SUBJECT_REQUEST: "Thực hiện yêu cầu của chủ thể dữ liệu",
    Purpose.ACCOUNTING: "Kế toán (chỉ chứng từ)",
}

CONDITION = {
    "vi": {
        Condition.NONE: "không",
        Condition.PROCESSING_CONSENT_GIVEN: "có sự đồng ý xử lý",
        Condition.MARKETING_CONSENT: "có sự đồng ý nhận tiếp thị",
        Condition.JUSTIFICATION: "có lý do ghi lại (từ 10 ký tự)",
        Condition.PENDING_NOTICE: "có thông báo pháp lý chưa gửi",
        Condition.PARTNER_GRANT: "có quyền theo hợp đồng đối tác",
        Condition.JUDICIAL_REQUEST: "có yêu cầu tư pháp đã duyệt, còn hạn",
        Condition.OPEN_COMPLAINT: "có khiếu nại đang mở",
        Condition.OPEN_SUBJECT_REQUEST: "có yêu cầu của chủ thể đang mở",
    },
    "en": {
        Condition.NONE: "none",
        Condition.PROCESSING_CONSENT_GIVEN: "processing consent given",
        Condition.MARKETING_CONSENT: "marketing consent given",
        Condition.JUSTIFICATION: "a recorded justification (10+ characters)",
        Condition.PENDING_NOTICE: "an undelivered legal notice",
        Condition.PARTNER_GRANT: "a partner's contract grant",
        Condition.JUDICIAL_REQUEST: "an approved, unexpired judicial request",
        Condition.OPEN_COMPLAINT: "an open complaint",
        Condition.OPEN_SUBJECT_REQUEST: "an open data-subject request",
    },
}

ACCESS = {
    "vi": {
        Access.CREATE: "tạo",
        Access.READ: "đọc",
        Access.WRITE: "sửa",
        Access.DOCUMENTS: "chứng từ",
    },
    "en": {
        Access.CREATE: "create",
        Access.READ: "read",
        Access.WRITE: "correct",
        Access.DOCUMENTS: "documents",
    },
}

DOC_KIND = {
    "vi": {
        DocumentKind.INVOICE: "Hoá đơn",
        DocumentKind.RECEIPT: "Biên lai",
        DocumentKind.CONTRACT: "Hợp đồng",
        DocumentKind.OTHER: "Chứng từ khác",
    },
    "en": {
        DocumentKind.INVOICE: "Invoice",
        DocumentKind.RECEIPT: "Receipt",
        DocumentKind.CONTRACT: "Contract",
        DocumentKind.OTHER: "Other document",
    },
}

# Every message of the two documents, in both languages; {names} are filled by ``str.format``.
TEXT: dict[Language, dict[str, str]] = {
    "vi": {
        "yes": "Có",
        "no": "Không",
        "none": "Không có",
        "not_yet": "Chưa",
        "sign_title": "ĐẠI DIỆN BÊN KIỂM SOÁT DỮ LIỆU",
        "sign_hint": "(Ký, ghi rõ họ tên, chức vụ và đóng dấu)",
        "to": "Kính gửi: {authority}",
        "basis": "Căn cứ {article} {decree};",
        "basis_law": "Căn cứ {law};",
        "notice_title": "THÔNG BÁO VI PHẠM QUY ĐỊNH VỀ BẢO VỆ DỮ LIỆU CÁ NHÂN",
        "ia_form": "Hồ sơ theo {article} {decree}",
        "ia_title": "HỒ SƠ ĐÁNH GIÁ TÁC ĐỘNG XỬ LÝ DỮ LIỆU CÁ NHÂN",
        "s_controller": "Thông tin bên kiểm soát dữ liệu",
        "name": "Tên tổ chức",
        "address": "Địa chỉ trụ sở",
        "hotline": "Điện thoại",
        "email": "Thư điện tử",
        "website": "Trang thông tin điện tử",
        "dpo_unit": "Bộ phận bảo vệ dữ liệu cá nhân",
        "dpo_contact": "Nhân sự phụ trách bảo vệ dữ liệu",
        "registration": "Mã số doanh nghiệp, người đại diện theo pháp luật",
        "s_event": "Mô tả vi phạm",
        "breach_ref": "Mã vụ việc trong sổ vi phạm",
        "detected": "Thời điểm phát hiện",
        "recorded": "Thời điểm ghi nhận",
        "occurred": "Thời điểm xảy ra (nếu khác thời điểm phát hiện)",
        "what": "Diễn biến",
        "s_affected": "Loại dữ liệu và số lượng chủ thể bị ảnh hưởng",
        "categories": "Loại dữ liệu cá nhân liên quan",
        "scope": "Phạm vi",
        "scope_all": "Toàn bộ khách hàng",
        "scope_named": "Khách hàng được xác định trong sổ vi phạm",
        "affected": "Số khách hàng bị ảnh hưởng",
        "volume": "Khối lượng bản ghi (ước tính)",
        "s_consequences": "Hậu quả có thể xảy ra",
        "consequences": "Đánh giá hậu quả, thiệt hại có thể xảy ra",
        "s_measures": "Biện pháp đã và sẽ thực hiện",
        "notices_queued": "Thông báo đã lập cho chủ thể dữ liệu",
        "notices_delivered": "Thông báo đã gửi đến chủ thể dữ liệu",
        "notified_subjects_at": "Thời điểm lập thông báo gần nhất",
        "measures": "Biện pháp khắc phục, ngăn chặn đã thực hiện",
        "s_deadline": "Thời hạn thông báo",
        "deadline": "Thời hạn theo quy định",
        "deadline_value": "{hours} giờ kể từ khi phát hiện, đến {due}",
        "notified_at": "Thời điểm đã thông báo cơ quan chức năng",
        "notified_to": "Cơ quan đã nhận thông báo, số tham chiếu",
        "late": "Thông báo quá hạn",
        "late_value": "Có, chậm {hours} giờ",
        "late_reason": "Lý do chậm thông báo",
        "s_contact": "Đầu mối liên hệ",
        "contact_point": "Đầu mối liên hệ với cơ quan chức năng",
        "s_start": "Thời điểm bắt đầu xử lý và thời hạn nộp hồ sơ",
        "started": "Ngày bắt đầu xử lý dữ liệu cá nhân",
        "submission_due": "Hạn gửi hồ sơ đến cơ quan chức năng",
        "submission_value": "{due} ({days} ngày kể từ ngày bắt đầu xử lý)",
        "period": "Kỳ số liệu",
        "period_value": "từ {since} đến {until}",
        "s_purposes": "Mục đích xử lý và vai trò được phép",
        "purpose_value": "Vai trò: {roles}. Dữ liệu: {fields}. Quyền: {access}. "
        "Điều kiện: {condition}.{legal}",
        "legal_purpose": " Mục đích theo nghĩa vụ pháp lý.",
        "no_fields": "chỉ chứng từ",
        "s_fields": "Loại dữ liệu cá nhân và cách bảo vệ",
        "field_value": "Mã hoá bằng khoá dữ liệu riêng của từng khách hàng: {enc}. "
        "Tra cứu bằng chỉ mục mù (HMAC): {bidx}. Đối tác được cấp dạng che thấy: {mask}.",
        "s_partners": "Bên nhận dữ liệu: đối tác theo hợp đồng",
        "no_partners": "Không có đối tác nào được cấp quyền",
        "partner_value": "Hợp đồng {contract}",
        "grant_value": "Hợp đồng {contract}; mục đích: {purposes}; dữ liệu: {fields}; "
        "hiệu lực từ {since} đến {until}; {state}",
        "grant_to": "Quyền được cấp cho {name}",
        "plain": "đầy đủ",
        "masked": "dạng che",
        "in_force": "đang hiệu lực",
        "revoked": "đã thu hồi ngày {at}",
        "expired": "không còn hiệu lực",
        "s_retention": "Thời hạn lưu trữ",
        "customer_fields": "Dữ liệu khách hàng (bốn trường)",
        "customer_fields_value": "Đến khi khách hàng yêu cầu xoá; khi xoá, khoá dữ liệu và "
        "bản mã bị huỷ",
        "years_value": "{years} năm kể từ cuối năm kế toán, sau đó huỷ",
        "no_retention": "Không lưu giữ theo luật: huỷ khi xoá khách hàng",
        "s_transfer": "Chuyển dữ liệu cá nhân ra nước ngoài",
        "transfer": "Có chuyển ra nước ngoài không; nếu có: bên nhận, quốc gia, căn cứ",
        "s_security": "Biện pháp bảo đảm an ninh dữ liệu",
        "key_provider": "Nơi giữ khoá chính",
        "key_value": "{provider}, phiên bản chính {version}, các phiên bản đang giữ: {held}",
        "log": "Nhật ký truy cập",
        "log_value": "Mọi lần truy cập (kể cả bị từ chối) được ghi; các bản ghi nối chuỗi băm "
        "({chains} chuỗi), có điểm kiểm tra được ký sau mỗi {events} sự kiện hoặc {seconds} giây",
        "policy_engine": "Kiểm soát truy cập",
        "policy_value": "Một bộ máy chính sách duy nhất quyết định mọi yêu cầu theo bảng quy "
        "tắc tại mục 3",
        "s_figures": "Số liệu của kỳ",
        "customers": "Số khách hàng đang lưu giữ",
        "accesses": "Truy cập được phép theo vai trò và mục đích",
        "access_line": "{role} / {purpose}: {n}",
        "denials": "Truy cập bị từ chối theo lý do",
        "deletions": "Yêu cầu xoá dữ liệu",
        "access_requests": "Yêu cầu truy cập dữ liệu",
        "request_value": "nhận {received}; đúng hạn {on_time}; trễ hạn {late}; "
        "quá hạn chưa xử lý {overdue}",
        "complaints": "Khiếu nại",
        "breaches": "Vi phạm",
        "breach_figures": "phát hiện {detected}; khách hàng bị ảnh hưởng {affected}; "
        "báo cơ quan đúng hạn {on_time}, trễ {late}, quá hạn chưa báo {overdue}",
        "s_risks": "Rủi ro và biện pháp giảm thiểu",
        "risk_leak": "Lộ dữ liệu từ cơ sở dữ liệu",
        "risk_leak_value": "Dữ liệu chỉ lưu dạng mã hoá; khoá chính giữ ngoài cơ sở dữ liệu",
        "risk_misuse": "Nhân sự truy cập sai mục đích",
        "risk_misuse_value": "Truy cập gắn mục đích và vai trò; mọi lần truy cập được ghi và "
        "kiểm tra được",
        "risk_partner": "Đối tác truy cập vượt phạm vi",
        "risk_partner_value": "Đối tác chỉ đọc khách hàng được giao, trong hiệu lực hợp đồng, "
        "với các trường được cấp (có thể che)",
        "risk_retention": "Lưu giữ quá thời hạn",
        "risk_retention_value": "Xoá theo yêu cầu và huỷ chứng từ khi hết thời hạn lưu trữ",
        "risk_assessment": "Đánh giá mức độ rủi ro và các biện pháp bổ sung",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "none": "None",
        "not_yet": "Not yet",
        "sign_title": "FOR THE DATA CONTROLLER",
        "sign_hint": "(Signature, full name, position and seal)",
        "to": "To: {authority}",
        "basis": "Pursuant to {article} of {decree};",
        "basis_law": "Pursuant to {law};",
        "notice_title": "NOTIFICATION OF A BREACH OF PERSONAL-DATA PROTECTION RULES",
        "ia_form": "Dossier under {article} of {decree}",
        "ia_title": "PERSONAL-DATA PROCESSING IMPACT ASSESSMENT DOSSIER",
        "s_controller": "The data controller",
        "name": "Organisation",
        "address": "Registered address",
        "hotline": "Phone",
        "email": "Email",
        "website": "Website",
        "dpo_unit": "Data-protection department",
        "dpo_contact": "Data-protection officer",
        "registration": "Enterprise code, legal representative",
        "s_event": "What happened",
        "breach_ref": "Breach register reference",
        "detected": "Detected at",
        "recorded": "Recorded at",
        "occurred": "Occurred at (if not when detected)",
        "what": "Account of events",
        "s_affected": "Kinds of data and people affected",
        "categories": "Kinds of personal data concerned",
        "scope": "Scope",
        "scope_all": "Every customer",
        "scope_named": "Customers named in the breach register",
        "affected": "Customers affected",
        "volume": "Number of records (estimate)",
        "s_consequences": "Likely consequences",
        "consequences": "Likely consequences and harm",
        "s_measures": "Measures taken and planned",
        "notices_queued": "Notices prepared for the data subjects",
        "notices_delivered": "Notices delivered to the data subjects",
        "notified_subjects_at": "Last notice run",
        "measures": "Containment and remedial measures taken",
        "s_deadline": "Notification deadline",
        "deadline": "Legal deadline",
        "deadline_value": "{hours} hours after detection, by {due}",
        "notified_at": "Authority notified at",
        "notified_to": "Authority notified, reference",
        "late": "Notified late",
        "late_value": "Yes, {hours} hours late",
        "late_reason": "Reason for the delay",
        "s_contact": "Contact point",
        "contact_point": "Contact point for the authority",
        "s_start": "Start of processing and submission deadline",
        "started": "Processing of personal data started on",
        "submission_due": "Dossier due to the authority by",
        "submission_value": "{due} ({days} days after processing started)",
        "period": "Period of the figures",
        "period_value": "from {since} to {until}",
        "s_purposes": "Purposes of processing and the roles allowed",
        "purpose_value": "Roles: {roles}. Data: {fields}. Access: {access}. "
        "Condition: {condition}.{legal}",
        "legal_purpose": " A legal-obligation purpose.",
        "no_fields": "documents only",
        "s_fields": "Kinds of personal data and how each is protected",
        "field_value": "Encrypted under the customer's own data key: {enc}. "
        "Searched by blind index (HMAC): {bidx}. A partner granted it masked sees: {mask}.",
        "s_partners": "Recipients: contracted partners",
        "no_partners": "No partner holds a grant",
        "partner_value": "Contract {contract}",
        "grant_value": "Contract {contract}; purposes: {purposes}; data: {fields}; "
        "valid from {since} to {until}; {state}",
        "grant_to": "Grant to {name}",
        "plain": "plain",
        "masked": "masked",
        "in_force": "in force",
        "revoked": "revoked on {at}",
        "expired": "not in force",
        "s_retention": "Retention periods",
        "customer_fields": "Customer data (the four fields)",
        "customer_fields_value": "Until the customer asks for erasure; erasure destroys the "
        "data key and the ciphertexts",
        "years_value": "{years} years from the end of the accounting year, then shredded",
        "no_retention": "No legal retention: shredded when the customer is erased",
        "s_transfer": "Cross-border transfers",
        "transfer": "Whether data leaves Viet Nam; if so: recipient, country, legal basis",
        "s_security": "Security measures",
        "key_provider": "Master keys held by",
        "key_value": "{provider}, primary version {version}, versions held: {held}",
        "log": "Access log",
        "log_value": "Every access (refusals included) is recorded; records are hash-chained "
        "({chains} chains) with a signed checkpoint every {events} events or {seconds} seconds",
        "policy_engine": "Access control",
        "policy_value": "One policy engine decides every request by the rule table of section 3",
        "s_figures": "Figures of the period",
        "customers": "Customers held",
        "accesses": "Allowed accesses by role and purpose",
        "access_line": "{role} / {purpose}: {n}",
        "denials": "Refused accesses by reason",
        "deletions": "Erasure requests",
        "access_requests": "Access requests",
        "request_value": "received {received}; on time {on_time}; late {late}; "
        "overdue and undecided {overdue}",
        "complaints": "Complaints",
        "breaches": "Breaches",
        "breach_figures": "detected {detected}; customers affected {affected}; "
        "authority told on time {on_time}, late {late}, overdue {overdue}",
        "s_risks": "Risks and how they are reduced",
        "risk_leak": "Data leaked from the database",
        "risk_leak_value": "Data is stored only encrypted; master keys are held outside the "
        "database",
        "risk_misuse": "Staff reading for the wrong purpose",
        "risk_misuse_value": "Every access names a purpose allowed to the role; every access is "
        "logged and verifiable",
        "risk_partner": "A partner reading beyond its contract",
        "risk_partner_value": "A partner reads only customers handed to it, while its grant is "
        "in force, and only the granted fields (masked where so granted)",
        "risk_retention": "Data kept too long",
        "risk_retention_value": "Erasure on request; documents shredded when retention ends",
        "risk_assessment": "Assessment of the level of risk and further measures",
    },
}


class _Writer:
    """Builds the numbered sections of one document in one language."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.text = TEXT[language]
        self._drafts: list[tuple[str, list[DocumentLine]]] = []
        self.to_fill: list[str] = []

    def t(self, key: str, **values: object) -> str:
        return self.text[key].format(**values)

    def section(self, key: str) -> list[DocumentLine]:
        """A new numbered section; its lines are appended to the list returned."""
        lines: list[DocumentLine] = []
        self._drafts.append((self.t(key), lines))
        return lines

    @property
    def sections(self) -> list[DocumentSection]:
        return [
            DocumentSection(number=i, title=title, lines=lines)
            for i, (title, lines) in enumerate(self._drafts, start=1)
        ]

    def fill(self, lines: list[DocumentLine], key: str) -> None:
        label = self.t(key)
        lines.append(DocumentLine(label=label, value=TO_FILL[self.language], to_fill=True))
        self.to_fill.append(label)

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return self.t("not_yet")
        local = moment.astimezone(SHOP_ZONE)
        if self.language == "vi":
            return f"{local:%H:%M} ngày {local:%d/%m/%Y} (giờ Việt Nam)"
        return f"{local:%Y-%m-%d %H:%M} (Viet Nam time)"

    def day(self, value: date) -> str:
        return f"{value:%d/%m/%Y}" if self.language == "vi" else value.isoformat()

    def yes_no(self, value: bool) -> str:
        return self.t("yes") if value else self.t("no")

    def categories(self, names: list[str] | tuple[str, ...]) -> str:
        return ", ".join(CATEGORY[self.language].get(n, n) for n in names) or self.t("none")

    def place_date(self, place: str, moment: datetime) -> str:
        local = moment.astimezone(SHOP_ZONE)
        if self.language == "vi":
            return f"{place}, ngày {local:%d} tháng {local:%m} năm {local:%Y}"
        return f"{place}, {local.day} {local:%B %Y}"


def _frame(
    w: _Writer, legal: LegalFacts, controller: ControllerFacts, now: datetime
) -> dict[str, object]:
    return {
        "language": w.language,
        "national_header": HEADER[w.language],
        "issuer": [controller.name],
        "place_date": w.place_date(legal.place, now),
        "recipient": w.t("to", authority=legal.authority),
        "signature": [w.t("sign_title"), w.t("sign_hint")],
    }


def _controller_section(w: _Writer, c: ControllerFacts) -> None:
    lines = w.section("s_controller")
    for key in ("name", "address", "hotline", "email", "website", "dpo_unit", "dpo_contact"):
        lines.append(DocumentLine(label=w.t(key), value=getattr(c, key)))
    w.fill(lines, "registration")


# -- drafting the breach notice ------------------------------------------------------------


async def breach_facts(
    session: AsyncSession, breach: Breach, settings: Settings, now: datetime
) -> BreachFacts:
    queued, delivered = await breach_notice_counts(session, breach.id)
    named = int(
        await session.scalar(
            select(func.count())
            .select_from(BreachCustomer)
            .where(BreachCustomer.breach_id == breach.id)
        )
        or 0
    )
    reference = breach.authority_notified_at or now
    overrun = (reference - breach.authority_due_at).total_seconds() / 3600
    return BreachFacts(
        id=breach.id,
        detected_at=breach.detected_at,
        recorded_at=breach.recorded_at,
        summary=breach.summary,
        data_categories=list(breach.data_categories),
        all_customers=breach.all_customers,
        affected_count=breach.affected_count,
        named_customers=named,
        notices_queued=int(queued),
        notices_delivered=int(delivered),
        subjects_notified_at=breach.subjects_notified_at,
        deadline_hours=settings.breach_authority_deadline_hours,
        authority_due_at=breach.authority_due_at,
        authority_notified_at=breach.authority_notified_at,
        authority=breach.authority_name,
        authority_reference=breach.authority_reference,
        late=overrun > 0,
        hours_late=round(max(overrun, 0.0), 1),
    )


def notice_document(
    b: BreachFacts, c: ControllerFacts, legal: LegalFacts, now: datetime, language: Language
) -> tuple[PaperworkDocument, list[str]]:
    w = _Writer(language)
    _controller_section(w, c)

    lines = w.section("s_event")
    lines.append(DocumentLine(label=w.t("breach_ref"), value=str(b.id)))
    lines.append(DocumentLine(label=w.t("detected"), value=w.when(b.detected_at)))
    lines.append(DocumentLine(label=w.t("recorded"), value=w.when(b.recorded_at)))
    w.fill(lines, "occurred")
    lines.append(DocumentLine(label=w.t("what"), value=b.summary))

    lines = w.section("s_affected")
    lines.append(DocumentLine(label=w.t("categories"), value=w.categories(b.data_categories)))
    scope = w.t("scope_all") if b.all_customers else w.t("scope_named")
    lines.append(DocumentLine(label=w.t("scope"), value=scope))
    lines.append(DocumentLine(label=w.t("affected"), value=str(b.affected_count)))
    w.fill(lines, "volume")

    lines = w.section("s_consequences")
    w.fill(lines, "consequences")

    lines = w.section("s_measures")
    lines.append(DocumentLine(label=w.t("notices_queued"), value=str(b.notices_queued)))
    lines.append(DocumentLine(label=w.t("notices_delivered"), value=str(b.notices_delivered)))
    lines.append(
        DocumentLine(label=w.t("notified_subjects_at"), value=w.when(b.subjects_notified_at))
    )
    w.fill(lines, "measures")

    lines = w.section("s_deadline")
    due = w.when(b.authority_due_at)
    lines.append(
        DocumentLine(
            label=w.t("deadline"), value=w.t("deadline_value", hours=b.deadline_hours, due=due)
        )
    )
    lines.append(DocumentLine(label=w.t("notified_at"), value=w.when(b.authority_notified_at)))
    if b.authority_notified_at is not None:
        told = f"{b.authority or ''}, {b.authority_reference or ''}".strip(", ")
        lines.append(DocumentLine(label=w.t("notified_to"), value=told))
    late = w.t("late_value", hours=b.hours_late) if b.late else w.t("no")
    lines.append(DocumentLine(label=w.t("late"), value=late))
    if b.late:
        w.fill(lines, "late_reason")

    lines = w.section("s_contact")
    lines.append(DocumentLine(label=w.t("contact_point"), value=c.contact_point))
    lines.append(DocumentLine(label=w.t("dpo_contact"), value=c.dpo_contact))

    rendered = PaperworkDocument(
        **_frame(w, legal, c, now),
        form=legal.notice_form if language == "vi" else "Form No. 03",
        title=w.t("notice_title"),
        legal_basis=[
            w.t("basis_law", law=legal.law),
            w.t("basis", article=legal.notice_article, decree=legal.decree),
        ],
        sections=w.sections,
    )
    return rendered, w.to_fill


async def draft_authority_notice(
    session: AsyncSession,
    settings: Settings,
    breach: Breach,
    language: Language = "vi",
    now: datetime | None = None,
) -> AuthorityNotice:
    """Form No. 03 for one breach of the register (found, and its absence logged, by
    ``BreachService.breach``)."""
    now = utcnow() if now is None else now
    facts = await breach_facts(session, breach, settings, now)
    controller, legal = controller_facts(settings), legal_facts(settings)
    document, to_fill = notice_document(facts, controller, legal, now, language)
    return AuthorityNotice(
        generated_at=now,
        controller=controller,
        legal=legal,
        breach=facts,
        to_fill=to_fill,
        document=document,
    )


# -- drafting the impact assessment --------------------------------------------------------


def purpose_facts() -> list[PurposeFacts]:
    """The rule table (``policy.rules.RULES``), row by row, in its own order."""
    return [
        PurposeFacts(
            purpose=rule.purpose.value,
            roles=sorted(r.value for r in rule.roles),
            fields=list(rule.fields),
            access=sorted(a.value for a in rule.access),
            condition=rule.condition.value,
            legal=rule.legal,
            description=rule.description,
        )
        for rule in RULES.values()
    ]


def field_facts() -> list[FieldFacts]:
    """How each personal field is held, read from the customers table and the masks."""
    columns = Customer.__table__.columns
    return [
        FieldFacts(
            field=name,
            encrypted=f"{name}_ct" in columns,
            blind_index=f"{name}_bidx" in columns,
            masked_example=MASKS[name](MASK_SAMPLES[name]),
        )
        for name in ALL_FIELDS
    ]


async def partner_facts(session: AsyncSession, now: datetime) -> list[PartnerFacts]:
    partners = (await session.scalars(select(Partner).order_by(Partner.name))).all()
    grants = (await session.scalars(select(Grant).order_by(Grant.valid_from, Grant.id))).all()
    by_partner: dict[uuid.UUID, list[GrantFacts]] = {p.id: [] for p in partners}
    for g in grants:
        by_partner.setdefault(g.partner_id, []).append(
            GrantFacts(
                id=g.id,
                contract_ref=g.contract_ref,
                purposes=list(g.purposes),
                fields={str(k): str(v) for k, v in sorted(g.fields.items())},
                valid_from=g.valid_from,
                valid_until=g.valid_until,
                revoked_at=g.revoked_at,
                in_force=g.revoked_at is None and g.valid_from <= now < g.valid_until,
            )
        )
    return [
        PartnerFacts(id=p.id, name=p.name, contract_ref=p.contract_ref, grants=by_partner[p.id])
        for p in partners
    ]


def retention_facts(settings: Settings) -> list[RetentionFacts]:
    return [RetentionFacts(kind=k.value, years=retention_years(settings, k)) for k in DocumentKind]


async def period_figures(
    session: AsyncSession, since: datetime, until: datetime, now: datetime
) -> PeriodFigures:
    report = await compliance_report(session, since, until, now)
    a = AccessRequest
    decided = await decided_by_lateness(session, a, since, until)
    live = await session.scalar(
        select(func.count()).select_from(Customer).where(Customer.erased_at.is_(None))
    )
    return PeriodFigures(
        since=since,
        until=until,
        live_customers=int(live or 0),
        accesses=report.accesses,
        denials=report.denials,
        deletion_requests=report.deletion_requests,
        access_requests=RequestFigures(
            received=await requests_received(session, a, since, until),
            on_time=decided["on_time"],
            late=decided["late"],
            overdue=await requests_overdue(session, a, report.as_of),
        ),
        complaints=report.complaints,
        breaches=report.breaches,
    )


def started_at(day: date) -> datetime:
    """The first moment of a shop day, in UTC."""
    return datetime.combine(day, time(0), SHOP_ZONE).astimezone(UTC)


def _purpose_name(w: _Writer, purpose: str) -> str:
    if w.language == "vi":
        return f"{PURPOSE_VI.get(Purpose(purpose), purpose)} ({purpose})"
    return purpose


def assessment_document(
    ia: AssessmentFacts, language: Language
) -> tuple[PaperworkDocument, list[str]]:
    w = _Writer(language)
    c, legal = ia.controller, ia.legal
    _controller_section(w, c)

    lines = w.section("s_start")
    lines.append(DocumentLine(label=w.t("started"), value=w.day(ia.processing_started)))
    due = w.t("submission_value", due=w.day(ia.submission_due), days=ia.submission_days)
    lines.append(DocumentLine(label=w.t("submission_due"), value=due))
    period = w.t("period_value", since=w.when(ia.figures.since), until=w.when(ia.figures.until))
    lines.append(DocumentLine(label=w.t("period"), value=period))

    lines = w.section("s_purposes")
    for p in ia.purposes:
        value = w.t(
            "purpose_value",
            roles=", ".join(ROLE[language][Role(r)] for r in p.roles),
            fields=w.categories(p.fields) if p.fields else w.t("no_fields"),
            access=", ".join(ACCESS[language][Access(x)] for x in p.access),
            condition=CONDITION[language][Condition(p.condition)],
            legal=w.t("legal_purpose") if p.legal else "",
        )
        lines.append(DocumentLine(label=_purpose_name(w, p.purpose), value=value))

    lines = w.section("s_fields")
    for f in ia.fields:
        value = w.t(
            "field_value",
            enc=w.yes_no(f.encrypted),
            bidx=w.yes_no(f.blind_index),
            mask=f.masked_example,
        )
        lines.append(DocumentLine(label=w.categories([f.field]), value=value))

    lines = w.section("s_partners")
    if not ia.partners:
        lines.append(DocumentLine(label=w.t("none"), value=w.t("no_partners")))
    for partner in ia.partners:
        lines.append(
            DocumentLine(
                label=partner.name, value=w.t("partner_value", contract=partner.contract_ref)
            )
        )
        for g in partner.grants:
            if g.revoked_at is not None:
                state = w.t("revoked", at=w.when(g.revoked_at))
            else:
                state = w.t("in_force") if g.in_force else w.t("expired")
            fields = ", ".join(f"{w.categories([k])} ({w.t(v)})" for k, v in g.fields.items())
            value = w.t(
                "grant_value",
                contract=g.contract_ref,
                purposes=", ".join(_purpose_name(w, p) for p in g.purposes),
                fields=fields,
                since=w.when(g.valid_from),
                until=w.when(g.valid_until),
                state=state,
            )
            lines.append(DocumentLine(label=w.t("grant_to", name=partner.name), value=value))

    lines = w.section("s_retention")
    lines.append(DocumentLine(label=w.t("customer_fields"), value=w.t("customer_fields_value")))
    for r in ia.retention:
        years = w.t("years_value", years=r.years) if r.years else w.t("no_retention")
        lines.append(DocumentLine(label=DOC_KIND[language][DocumentKind(r.kind)], value=years))

    lines = w.section("s_transfer")
    w.fill(lines, "transfer")

    lines = w.section("s_security")
    held = ", ".join(str(v) for v in ia.keys.versions_held)
    key = w.t("key_value", provider=ia.keys.provider, version=ia.keys.primary_version, held=held)
    lines.append(DocumentLine(label=w.t("key_provider"), value=key))
    log = ia.access_log
    lines.append(
        DocumentLine(
            label=w.t("log"),
            value=w.t(
                "log_value",
                chains=log.chains,
                events=log.checkpoint_every_events,
                seconds=f"{log.checkpoint_every_seconds:g}",
            ),
        )
    )
    lines.append(DocumentLine(label=w.t("policy_engine"), value=w.t("policy_value")))

    fig = ia.figures
    lines = w.section("s_figures")
    lines.append(DocumentLine(label=w.t("customers"), value=str(fig.live_customers)))
    accesses = "; ".join(
        w.t("access_line", role=a.role or "-", purpose=a.purpose or "-", n=a.count)
        for a in fig.accesses
    )
    lines.append(DocumentLine(label=w.t("accesses"), value=accesses or w.t("none")))
    denials = "; ".join(f"{d.reason or '-'}: {d.count}" for d in fig.denials)
    lines.append(DocumentLine(label=w.t("denials"), value=denials or w.t("none")))
    d, ar, cf = fig.deletion_requests, fig.access_requests, fig.complaints
    for label, received, on_time, late, overdue in (
        ("deletions", d.received, d.on_time, d.late, d.overdue),
        ("access_requests", ar.received, ar.on_time, ar.late, ar.overdue),
        ("complaints", cf.received, cf.answered_on_time, cf.answered_late, cf.overdue),
    ):
        value = w.t("request_value", received=received, on_time=on_time, late=late, overdue=overdue)
        lines.append(DocumentLine(label=w.t(label), value=value))
    bf = fig.breaches
    lines.append(
        DocumentLine(
            label=w.t("breaches"),
            value=w.t(
                "breach_figures",
                detected=bf.detected,
                affected=bf.affected_customers,
                on_time=bf.authority_on_time,
                late=bf.authority_late,
                overdue=bf.authority_overdue,
            ),
        )
    )

    lines = w.section("s_risks")
    for risk in ("risk_leak", "risk_misuse", "risk_partner", "risk_retention"):
        lines.append(DocumentLine(label=w.t(risk), value=w.t(f"{risk}_value")))
    w.fill(lines, "risk_assessment")

    rendered = PaperworkDocument(
        **_frame(w, legal, c, ia.generated_at),
        form=w.t("ia_form", article=legal.assessment_article, decree=legal.decree),
        title=w.t("ia_title"),
        legal_basis=[
            w.t("basis_law", law=legal.law),
            w.t("basis", article=legal.assessment_article, decree=legal.decree),
        ],
        sections=w.sections,
    )
    return rendered, w.to_fill


async def draft_impact_assessment(
    session: AsyncSession,
    runtime: Runtime,
    language: Language = "vi",
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> ImpactAssessment:
    """The dossier; the figures cover ``[since, until)``, by default from the day processing
    started to now."""
    settings = runtime.settings
    now = utcnow() if now is None else now
    p = settings.paperwork
    until = now if until is None else until
    since = started_at(p.processing_started) if since is None else since
    keys = runtime.keys
    facts = AssessmentFacts(
        generated_at=now,
        controller=controller_facts(settings),
        legal=legal_facts(settings),
        processing_started=p.processing_started,
        submission_due=p.processing_started + timedelta(days=p.assessment_submission_days),
        submission_days=p.assessment_submission_days,
        purposes=purpose_facts(),
        fields=field_facts(),
        partners=await partner_facts(session, now),
        retention=retention_facts(settings),
        keys=KeyFacts(
            provider=keys.name,
            primary_version=keys.primary_version,
            versions_held=sorted(keys.versions()),
        ),
        access_log=LogFacts(
            chains=settings.audit_slots,
            checkpoint_every_events=settings.audit_checkpoint_every_events,
            checkpoint_every_seconds=settings.audit_checkpoint_every_seconds,
        ),
        figures=await period_figures(session, since, until, now),
    )
    document, to_fill = assessment_document(facts, language)
    return ImpactAssessment(**facts.__dict__, to_fill=to_fill, document=document)


# -- what every generation leaves behind ---------------------------------------------------

OPERATION: dict[str, Operation] = {
    BREACH_NOTICE: Operation.BREACH_AUTHORITY_NOTICE,
    IMPACT_ASSESSMENT: Operation.REPORT_IMPACT_ASSESSMENT,
}


async def log_drawn(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    kind: Kind,
    breach_id: uuid.UUID | None = None,
) -> None:
    """The access event of a drawn document (a preview, or a version handed out), in the
    caller's transaction."""
    await runtime.audit.append(
        session,
        actor,
        EventDraft(
            action=OPERATION[kind].value,
            outcome=ALLOWED,
            basis=f"breach:{breach_id}" if breach_id is not None else None,
        ),
    )


async def record_generation(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    kind: Kind,
    body: bytes,
    *,
    language: Language,
    fmt: str,
    at: datetime,
    breach_id: uuid.UUID | None = None,
) -> PaperworkVersion:
    """The access event (through the log's one entry point) and the version row, in the
    caller's transaction: the caller commits before the document leaves."""
    await log_drawn(runtime, session, actor, kind, breach_id)
    version = PaperworkVersion(
        kind=kind,
        breach_id=breach_id,
        principal_id=actor.principal_id,
        generated_at=at,
        language=language,
        format=fmt,
        sha256=hashlib.sha256(body).hexdigest(),
    )
    session.add(version)
    await session.flush()
    return version


async def versions(session: AsyncSession, limit: int = 200) -> list[PaperworkVersion]:
    """The latest generated versions, newest first."""
    rows = await session.scalars(
        select(PaperworkVersion)
        .order_by(PaperworkVersion.generated_at.desc(), PaperworkVersion.id.desc())
        .limit(limit)
    )
    return list(rows.all())
