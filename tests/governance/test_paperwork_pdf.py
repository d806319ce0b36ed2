"""Issue 21: both documents as A4 PDFs. The text is read back (pypdf) and every section, the
national header, the legal basis and the signature block are found with their diacritics; the
pages render (pypdfium2) to PNG; no customer's value is in the file's text.

``PDVAULT_PAPERWORK_PNG_DIR``, when set, receives the rendered pages, to be looked at.
"""

from __future__ import annotations

import hashlib
import io
import os
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
from pypdf import PdfReader

from pdvault.governance.paperwork_pdf import render_pdf
from tests.conftest import Issued
from tests.governance.test_paperwork import (
    DOSSIER,
    NOTICE,
    assert_nothing_personal,
    insert_breach,
    insert_partners,
    secret_customers,
    versions,
)

A4 = (595.0, 842.0)  # points, within a point


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) < 1.5, width
        assert abs(height - A4[1]) < 1.5, height
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    # Each page's footer (title, time, page n/m) cuts a value that runs onto the next page.
    lines = [line for line in text.splitlines() if " · pdvault " not in line]
    assert len(lines) < len(text.splitlines()), "every page has its footer"
    return unicodedata.normalize("NFC", "\n".join(lines))


def flat(text: str) -> str:
    """Without white space: a long value wraps (at a space or after a hyphen), its characters
    stay in order."""
    return "".join(text.split())


def render_pages(pdf: bytes, name: str, tmp_path: Path) -> list[Path]:
    out = Path(os.environ.get("PDVAULT_PAPERWORK_PNG_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.pdf").write_bytes(pdf)
    document = pypdfium2.PdfDocument(pdf)
    paths = []
    for i in range(len(document)):
        image = document[i].render(scale=1.4).to_pil()
        # A rendered page is mostly white paper, with ink on it.
        gray = image.convert("L")
        histogram = gray.histogram()
        dark = sum(histogram[:128])
        assert 0 < dark < gray.width * gray.height * 0.2, (name, i, dark)
        path = out / f"{name}-{i + 1}.png"
        image.save(path)
        paths.append(path)
    document.close()
    return paths


def assert_every_line(doc: dict[str, Any], text: str) -> None:
    """Every section's number and title, every label and value of the JSON is in the PDF."""
    words = flat(text)
    for line in doc["national_header"] + doc["legal_basis"] + doc["signature"]:
        assert flat(line) in words, line
    for part in (doc["title"], doc["form"], doc["place_date"], doc["recipient"]):
        assert flat(part) in words, part
    for section in doc["sections"]:
        assert flat(f"{section['number']}. {section['title']}") in words, section["title"]
        for line in section["lines"]:
            assert flat(f"{line['label']}:") in words, line["label"]
            assert flat(line["value"]) in words, line["value"]


async def test_notice_pdf_reads_back_in_vietnamese(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any, tmp_path: Path
) -> None:
    customers = await secret_customers(make_customer)
    breach = await insert_breach(
        app,
        customers,
        detected_at=datetime.now(UTC) - timedelta(hours=100),
        notified_after_hours=80,
        dpo=dpo,
        delivered=1,
    )
    doc = (await client.get(NOTICE.format(breach.id), headers=dpo.headers)).json()["document"]
    r = await client.get(
        NOTICE.format(breach.id), headers={**dpo.headers, "Accept": "application/pdf"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == (
        f'inline; filename="breach-notice-{breach.id}-vi.pdf"'
    )
    assert r.content.startswith(b"%PDF-")
    text = text_of(r.content)
    assert "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert "THÔNG BÁO VI PHẠM QUY ĐỊNH VỀ BẢO VỆ DỮ LIỆU CÁ NHÂN" in text
    assert "Mẫu số 03" in text
    assert "[Bộ phận bảo vệ dữ liệu điền]" in text
    assert_every_line(doc, text)
    assert_nothing_personal(text)
    assert_nothing_personal(r.content.decode("latin-1"))
    assert render_pages(r.content, "breach-notice-vi", tmp_path)

    # ?format=pdf is the same; the version row keeps the hash of the PDF sent.
    again = await client.get(
        NOTICE.format(breach.id), params={"format": "pdf"}, headers=dpo.headers
    )
    assert again.headers["content-type"] == "application/pdf"
    pdf_versions = [v for v in await versions(app) if v.format == "pdf"]
    assert [v.sha256 for v in pdf_versions] == [
        hashlib.sha256(body).hexdigest() for body in (r.content, again.content)
    ] or [v.sha256 for v in pdf_versions] == [
        hashlib.sha256(body).hexdigest() for body in (again.content, r.content)
    ]


async def test_notice_pdf_in_english(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any, tmp_path: Path
) -> None:
    customers = await secret_customers(make_customer)
    breach = await insert_breach(
        app,
        customers,
        detected_at=datetime.now(UTC) - timedelta(hours=20),
        notified_after_hours=None,
        dpo=dpo,
    )
    params = {"lang": "en"}
    doc = (await client.get(NOTICE.format(breach.id), params=params, headers=dpo.headers)).json()[
        "document"
    ]
    r = await client.get(
        NOTICE.format(breach.id), params={**params, "format": "pdf"}, headers=dpo.headers
    )
    text = text_of(r.content)
    assert "SOCIALIST REPUBLIC OF VIET NAM" in text
    assert_every_line(doc, text)
    assert_nothing_personal(text)
    render_pages(r.content, "breach-notice-en", tmp_path)


async def test_dossier_pdf_reads_back_in_vietnamese(
    app: Any, client: httpx.AsyncClient, dpo: Issued, make_customer: Any, tmp_path: Path
) -> None:
    await secret_customers(make_customer)
    await insert_partners(app, datetime.now(UTC))
    r = await client.get(DOSSIER, headers={**dpo.headers, "Accept": "application/pdf"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = text_of(r.content)
    assert "HỒ SƠ ĐÁNH GIÁ TÁC ĐỘNG XỬ LÝ DỮ LIỆU CÁ NHÂN" in text
    assert "Giao Hàng Mẫu (ví dụ)" in text
    assert "Tiếp thị qua thư điện tử (marketing)" in text
    assert "Điều 24" in text
    assert_nothing_personal(text)
    assert_nothing_personal(r.content.decode("latin-1"))
    pages = render_pages(r.content, "impact-assessment-vi", tmp_path)
    assert len(pages) >= 2
    # The JSON drawn at the same moment would hold the same lines; drawn again, the figures
    # count the PDF's own event, so compare the document the PDF was made from instead.
    draft = (await client.get(DOSSIER, headers=dpo.headers)).json()
    for number in (1, 2, 3, 4, 5, 6, 7, 8, 10):
        section = draft["document"]["sections"][number - 1]
        assert flat(f"{number}. {section['title']}") in flat(text)
        for line in section["lines"]:
            assert flat(line["value"]) in flat(text), line["value"]


async def test_dossier_pdf_in_english(
    client: httpx.AsyncClient, dpo: Issued, tmp_path: Path
) -> None:
    r = await client.get(DOSSIER, params={"lang": "en", "format": "pdf"}, headers=dpo.headers)
    text = text_of(r.content)
    assert "PERSONAL-DATA PROCESSING IMPACT ASSESSMENT DOSSIER" in text
    assert "Independence - Freedom - Happiness" in text
    render_pages(r.content, "impact-assessment-en", tmp_path)


def test_rendering_is_deterministic() -> None:
    """One draft renders to the same bytes (the file's date is the document's), so the hash
    in the version record identifies a kept copy."""
    from pdvault.governance.paperwork import DocumentLine, DocumentSection, PaperworkDocument

    doc = PaperworkDocument(
        language="vi",
        national_header=["CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"],
        issuer=["CỬA HÀNG MẪU"],
        place_date="Hà Nội, ngày 05 tháng 12 năm 2026",
        form="Mẫu số 03",
        title="THỬ",
        recipient="Kính gửi: Cơ quan mẫu",
        legal_basis=["Căn cứ luật mẫu;"],
        sections=[
            DocumentSection(
                number=1, title="Mục", lines=[DocumentLine(label="Nhãn", value="Giá trị")]
            )
        ],
        signature=["KÝ", "(Ký tên)"],
    )
    at = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    assert render_pdf(doc, at, "x") == render_pdf(doc, at, "x")
