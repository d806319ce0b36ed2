"""Reading the upload's multipart body, in memory only.

Starlette's form parser spools a file part over 1 MiB to a temporary file on disk: a
document's plaintext would touch the disk unencrypted. This parser keeps every part in memory
(the edge middleware has already capped the body at ``max_document_bytes``), accepts exactly
the three named parts once each, and keeps nothing the client says about the file (its name,
its content type).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from pdvault.errors import Problem, Unprocessable

FILE, KIND, ORDER_REF = "file", "kind", "order_ref"
_TEXT_PART_MAX = 1024
_MAX_HEADERS_PER_PART = 8


class UnsupportedMediaType(Problem):
    status, slug = 415, "unsupported_media_type"


@dataclass
class UploadForm:
    file: bytes
    kind: str
    order_ref: str


@dataclass
class _Part:
    name: str | None = None
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


def _invalid(loc: str, msg: str) -> Unprocessable:
    return Unprocessable("The upload is not valid.", errors=[{"loc": ["body", loc], "msg": msg}])


class _Collector:
    """python-multipart callbacks gathering the three parts; anything else is an error."""

    def __init__(self) -> None:
        self.parts: dict[str, _Part] = {}
        self.current = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.disposition = b""

    def on_part_begin(self) -> None:
        self.current = _Part()
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        raw = options.get(b"name")
        name = raw.decode("latin-1") if raw is not None else None
        if name not in (FILE, KIND, ORDER_REF):
            raise _invalid(name or "part", "unexpected part")
        if name in self.parts:
            raise _invalid(name, "given more than once")
        self.current.name = name
        self.current.is_file = name == FILE

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        part.data += data[start:end]
        if not part.is_file and len(part.data) > _TEXT_PART_MAX:
            raise _invalid(part.name or "part", "too long")

    def on_part_end(self) -> None:
        if self.current.name is not None:
            self.parts[self.current.name] = self.current


async def read_upload(content_type: str | None, body: AsyncIterator[bytes]) -> UploadForm:
    """The upload's parts; 415 if the body is not multipart/form-data, 422 if malformed."""
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data":
        raise UnsupportedMediaType("The upload must be multipart/form-data.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise _invalid("multipart", "missing boundary")
    collector = _Collector()
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": collector.on_part_begin,
                "on_header_field": collector.on_header_field,
                "on_header_value": collector.on_header_value,
                "on_header_end": collector.on_header_end,
                "on_headers_finished": collector.on_headers_finished,
                "on_part_data": collector.on_part_data,
                "on_part_end": collector.on_part_end,
            },
            max_header_count=_MAX_HEADERS_PER_PART,
        )
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise _invalid("multipart", "malformed multipart body") from None
    return _form_of(collector.parts)


def _form_of(parts: dict[str, _Part]) -> UploadForm:
    missing = [n for n in (FILE, KIND, ORDER_REF) if n not in parts]
    if missing:
        raise Unprocessable(
            "The upload is not valid.",
            errors=[{"loc": ["body", n], "msg": "field required"} for n in missing],
        )
    texts: dict[str, str] = {}
    for name in (KIND, ORDER_REF):
        try:
            texts[name] = parts[name].data.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(name, "not UTF-8") from None
    data = bytes(parts[FILE].data)
    if not data:
        raise _invalid(FILE, "the file is empty")
    return UploadForm(file=data, kind=texts[KIND], order_ref=texts[ORDER_REF])
