"""Issue 21: a drafted document handed out as a file (JSON or PDF), the same way for the API
and the console: rendered, its access event and version row written and committed, then sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from pdvault.auth.principal import Actor
from pdvault.governance.paperwork import (
    AuthorityNotice,
    ImpactAssessment,
    record_generation,
)
from pdvault.governance.paperwork_pdf import render_pdf
from pdvault.runtime import Runtime

Format = Literal["json", "pdf"]
JSON_TYPE, PDF_TYPE = "application/json", "application/pdf"


@dataclass(frozen=True)
class IssuedFile:
    body: bytes
    media_type: str
    filename: str


def filename(draft: AuthorityNotice | ImpactAssessment, fmt: Format) -> str:
    lang = draft.document.language
    if isinstance(draft, AuthorityNotice):
        return f"breach-notice-{draft.breach.id}-{lang}.{fmt}"
    return f"impact-assessment-{draft.generated_at:%Y-%m-%d}-{lang}.{fmt}"


def render(draft: AuthorityNotice | ImpactAssessment, fmt: Format) -> bytes:
    if fmt == "json":
        return draft.model_dump_json().encode()
    footer = f"{draft.document.title} · pdvault {draft.generated_at:%Y-%m-%dT%H:%MZ}"
    return render_pdf(draft.document, draft.generated_at, footer)


async def issue(
    runtime: Runtime,
    session: AsyncSession,
    actor: Actor,
    draft: AuthorityNotice | ImpactAssessment,
    fmt: Format,
) -> IssuedFile:
    """Render ``draft``, log the generation and keep its version, commit; then it may leave."""
    body = render(draft, fmt)
    breach_id = draft.breach.id if isinstance(draft, AuthorityNotice) else None
    await record_generation(
        runtime,
        session,
        actor,
        draft.kind,
        body,
        language=draft.document.language,
        fmt=fmt,
        at=draft.generated_at,
        breach_id=breach_id,
    )
    await session.commit()
    return IssuedFile(
        body=body,
        media_type=PDF_TYPE if fmt == "pdf" else JSON_TYPE,
        filename=filename(draft, fmt),
    )
