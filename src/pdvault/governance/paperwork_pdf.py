"""Issue 21: the paperwork as an A4 PDF a person can sign and send.

The layout of a Vietnamese administrative document: the issuer on the left and the national
header on the right, the form number, the place and date, the recipient, the title, the legal
basis, the numbered sections, the signature block. Text is set in Be Vietnam Pro (OFL-1.1), a
face drawn for Vietnamese, shipped as static TTFs by the ``fontpkg-be-vietnam-pro`` package and
embedded (subset) in the file, so the diacritics print the same on every machine. (A variable
font would need instancing at every start: tens of seconds.) Lines the DPO must still write
are set apart in colour.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib.resources import files as package_files
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from pdvault.governance.paperwork import PaperworkDocument

FAMILY = "BeVietnamPro"
FONT_PACKAGE = "fontpkg_be_vietnam_pro"
STYLES = {"": "Regular", "B": "Bold", "I": "Italic"}
MARGIN = 20.0
BLACK = (0, 0, 0)
TO_FILL = (160, 30, 30)
GREY = (90, 90, 90)


@lru_cache(maxsize=1)
def font_files() -> dict[str, Path]:
    files = Path(str(package_files(FONT_PACKAGE))) / "files"
    return {style: files / f"BeVietnamPro-{name}.ttf" for style, name in STYLES.items()}


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.footer_text}  {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(*BLACK)


def _pdf(title: str, language: str, at: datetime, footer: str) -> _Pdf:
    pdf = _Pdf(orientation="portrait", unit="mm", format="A4")
    pdf.footer_text = footer
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=20)
    for style, path in font_files().items():
        pdf.add_font(FAMILY, style, path)
    pdf.set_title(title)
    pdf.set_lang(language)
    pdf.set_creator("pdvault")
    # The file's dates are the document's own, so one draft renders to the same bytes.
    pdf.set_creation_date(at)
    return pdf


def _para(pdf: _Pdf, text: str, *, size: float = 11, style: str = "", align: str = "L") -> None:
    pdf.set_font(FAMILY, style, size)
    pdf.multi_cell(0, size * 0.5, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _head(pdf: _Pdf, doc: PaperworkDocument) -> None:
    width = pdf.epw
    left, right = width * 0.42, width * 0.58
    top = pdf.get_y()
    pdf.set_font(FAMILY, "B", 10)
    for line in doc.issuer:
        pdf.multi_cell(left, 5, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    issuer_bottom = pdf.get_y()
    pdf.set_xy(MARGIN + left, top)
    for i, line in enumerate(doc.national_header):
        pdf.set_font(FAMILY, "B", 10.5 if i == 0 else 10)
        pdf.set_x(MARGIN + left)
        pdf.multi_cell(right, 5, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    # The rule under the motto, as the national header has it.
    y = pdf.get_y() + 0.5
    pdf.line(MARGIN + left + right * 0.25, y, MARGIN + left + right * 0.75, y)
    pdf.set_y(max(issuer_bottom, y) + 3)
    pdf.set_font(FAMILY, "I", 10)
    pdf.cell(0, 5, doc.place_date, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 10)
    pdf.cell(0, 5, doc.form, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _para(pdf, doc.title, size=13, style="B", align="C")
    pdf.ln(2)
    _para(pdf, doc.recipient, size=11, style="B", align="C")
    pdf.ln(2)
    for line in doc.legal_basis:
        _para(pdf, line, size=10, style="I")
    pdf.ln(3)


def _sections(pdf: _Pdf, doc: PaperworkDocument) -> None:
    for section in doc.sections:
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
        _para(pdf, f"{section.number}. {section.title}", size=11.5, style="B")
        pdf.ln(1)
        for line in section.lines:
            if pdf.get_y() > pdf.h - 38:  # a label is not left alone at a page's foot
                pdf.add_page()
            pdf.set_font(FAMILY, "B", 10)
            label = f"{line.label}: "
            pdf.set_text_color(*BLACK)
            pdf.set_x(MARGIN + 4)
            pdf.multi_cell(pdf.epw - 4, 5, label, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(FAMILY, "I" if line.to_fill else "", 10)
            if line.to_fill:
                pdf.set_text_color(*TO_FILL)
            pdf.set_x(MARGIN + 8)
            pdf.multi_cell(
                pdf.epw - 8, 5, line.value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            pdf.set_text_color(*BLACK)
            pdf.ln(0.8)
        pdf.ln(2)


def _signature(pdf: _Pdf, doc: PaperworkDocument) -> None:
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(4)
    half = pdf.epw / 2
    for i, line in enumerate(doc.signature):
        pdf.set_font(FAMILY, "B" if i == 0 else "I", 10.5 if i == 0 else 9.5)
        pdf.set_x(MARGIN + half)
        pdf.multi_cell(half, 5, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(28)


def render_pdf(doc: PaperworkDocument, at: datetime, footer: str) -> bytes:
    """One document as PDF bytes; ``at`` is written as the file's date."""
    pdf = _pdf(doc.title, doc.language, at, footer)
    pdf.add_page()
    _head(pdf, doc)
    _sections(pdf, doc)
    _signature(pdf, doc)
    return bytes(pdf.output())
