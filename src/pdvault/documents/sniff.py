"""What a document is, read from its bytes. The client's declared content type is never used.

A closed allow-list: PDF, PNG, JPEG, GIF, WebP, TIFF, XML (Vietnamese e-invoices are XML) and
UTF-8 plain text. Anything else is refused (415), including HTML and SVG: a stored file served
back as markup would run script in whatever renders it, and a transaction document has no
reason to be either. XML is checked as a parser reads it: character references decoded, no
DTD, no encoding but UTF-8 (so the XHTML or SVG namespace cannot hide). ZIP-based office
files are refused too (a container of anything, macros included); contracts are stored as PDF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str


PDF = Sniffed("application/pdf", ".pdf")
PNG = Sniffed("image/png", ".png")
JPEG = Sniffed("image/jpeg", ".jpg")
GIF = Sniffed("image/gif", ".gif")
WEBP = Sniffed("image/webp", ".webp")
TIFF = Sniffed("image/tiff", ".tiff")
XML = Sniffed("application/xml", ".xml")
TEXT = Sniffed("text/plain", ".txt")

ACCEPTED: tuple[Sniffed, ...] = (PDF, PNG, JPEG, GIF, WEBP, TIFF, XML, TEXT)
EXTENSION = {s.content_type: s.extension for s in ACCEPTED}

_MAGIC: tuple[tuple[bytes, Sniffed], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
_BOM = b"\xef\xbb\xbf"
# Control characters no text document holds (tab, LF, FF and CR are fine). UTF-8 multi-byte
# sequences never contain bytes below 0x80, so searching the bytes is searching the text.
_BINARY_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Markup a browser would render (and run script in), anywhere in an XML document.
_MARKUP_SIGNS = (
    b"<!doctype html",
    b"<html",
    b"<script",
    b"<svg",
    b"http://www.w3.org/1999/xhtml",
    b"http://www.w3.org/2000/svg",
)
# A namespace can be spelled with character references (``x&#104;tml``): the check reads the
# text as a parser does, each reference replaced by its character. Any other ``&#`` is not a
# reference, hence not XML.
_CHAR_REF = re.compile(rb"&#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}));")
# A document type declaration can define entities that assemble a namespace from harmless
# pieces, or give an element a namespace by default: an e-invoice has none, so XML with one is
# refused (as are XXE and entity expansion with it).
_DOCTYPE = b"<!doctype"
# The bytes were checked as UTF-8; a parser told another encoding reads other characters.
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8"})


def sniff(data: bytes) -> Sniffed | None:
    """The accepted type these bytes are, or None (refuse)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return _sniff_text(data)


def _sniff_text(data: bytes) -> Sniffed | None:
    body = data.removeprefix(_BOM)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _BINARY_CONTROLS.search(body):
        return None
    head = body.lstrip()
    if not head.startswith(b"<"):
        return TEXT  # served as text/plain with nosniff: never rendered as markup
    if not head.startswith(b"<?xml"):
        return None  # markup without an XML declaration: HTML by another name
    decoded = _decode_references(head)
    if decoded is None:
        return None
    lowered = decoded.lower()
    encoding = _DECLARED_ENCODING.match(lowered)
    if encoding is not None and encoding.group(1).strip() not in _UTF8_NAMES:
        return None
    if _DOCTYPE in lowered or any(sign in lowered for sign in _MARKUP_SIGNS):
        return None  # a DTD, or XHTML or SVG inside an XML document
    return XML


def _decode_references(text: bytes) -> bytes | None:
    """``text`` with every character reference replaced by its character (UTF-8), or None
    when a reference names no character or ``&#`` starts something that is no reference."""
    bad = False

    def character(match: re.Match[bytes]) -> bytes:
        nonlocal bad
        hex_digits, digits = match.groups()
        point = int(hex_digits, 16) if hex_digits is not None else int(digits)
        if point == 0 or point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
            bad = True
            return b""
        return chr(point).encode("utf-8")

    if b"&#" in _CHAR_REF.sub(b"", text):
        return None
    decoded = _CHAR_REF.sub(character, text)  # one pass: "&#38;#104;" is the text "&#104;"
    return None if bad else decoded
