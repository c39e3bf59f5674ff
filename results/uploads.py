"""Streaming multipart uploads of result files straight into storage.

Litestar's own form parsing reads the whole body into memory first; result data sets run to
hundreds of megabytes, so the body is parsed chunk by chunk with python-multipart and each file
part is written to storage as it arrives, hashed on the way. Any failure removes what was written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from results.errors import BadUpload, DangerousFileType, FileTooLarge
from results.storage import ObjectWriter, ResultStorage, StoredObject, new_key

MAX_DESCRIPTION = 2000
MAX_NAME = 200
MAX_FILES = 20
# Boundaries, part headers (python-multipart allows 8 of 4 KiB each) and the description: what one
# upload may carry on top of its files.
MULTIPART_OVERHEAD = 1024 * 1024
SNIFF_BYTES = 512

# Programs, scripts and active web content: a results archive has no business carrying them,
# and serving them back from our domain would hand an attacker a foothold.
REFUSED_EXTENSIONS = {
    ".exe",
    ".dll",
    ".com",
    ".bat",
    ".cmd",
    ".msi",
    ".scr",
    ".ps1",
    ".vbs",
    ".js",
    ".mjs",
    ".jar",
    ".sh",
    ".php",
    ".asp",
    ".aspx",
    ".jsp",
    ".html",
    ".htm",
    ".xhtml",
    ".svg",
    ".hta",
    ".apk",
    ".app",
}
REFUSED_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xce")
REFUSED_TEXT_MARKERS = (b"<html", b"<!doctype html", b"<script", b"<svg", b"<?php")

KNOWN_TYPES: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x89HDF\r\n\x1a\n", "application/x-hdf5"),
]
ZIP_FORMATS = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
TEXT_EXTENSIONS = {".csv": "text/csv", ".txt": "text/plain", ".json": "application/json", ".xml": "text/xml"}


def classify(name: str, head: bytes) -> str:
    """The content type we store and serve, or raise :class:`DangerousFileType`."""
    extension = PurePosixPath(name.lower()).suffix
    lowered = head[:SNIFF_BYTES].lstrip().lower()
    if (
        extension in REFUSED_EXTENSIONS
        or head.startswith(REFUSED_MAGIC)
        or lowered.startswith(REFUSED_TEXT_MARKERS)
    ):
        raise DangerousFileType(name=name)
    for magic, content_type in KNOWN_TYPES:
        if head.startswith(magic):
            if content_type == "application/zip" and extension in ZIP_FORMATS:
                return ZIP_FORMATS[extension]
            return content_type
    if extension in TEXT_EXTENSIONS:
        return TEXT_EXTENSIONS[extension]
    return "application/octet-stream"


def clean_filename(raw: str) -> str:
    name = PurePosixPath(raw.replace("\\", "/")).name.strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    if not name:
        raise BadUpload("文件名无效")
    return name[:MAX_NAME]


def upload_limit(max_file_bytes: int) -> int:
    """The largest body of one upload: its files together are held to the file limit."""
    return max_file_bytes + MULTIPART_OVERHEAD


def _refusal(exc: FormParserError) -> BadUpload:
    reason = str(exc)
    if "header size" in reason:
        return BadUpload("文件的分段头过长（文件名过长？）：每个头最多 4 KB", reason=reason)
    if "boundary" in reason.lower():
        return BadUpload("multipart boundary 有误或过长", reason=reason)
    return BadUpload("上传内容不是合法的 multipart/form-data", reason=reason)


@dataclass
class ReceivedFile:
    name: str
    content_type: str
    stored: StoredObject


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    field_name: str = ""
    filename: str | None = None
    head: bytearray = field(default_factory=bytearray)
    writer: ObjectWriter | None = None
    content_type: str = ""
    size: int = 0
    text: bytearray = field(default_factory=bytearray)


@dataclass
class ReceivedUpload:
    files: list[ReceivedFile]
    description: str


class _Collector:
    """python-multipart's callbacks are synchronous: collect events, act on them asynchronously."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.events.append(("part", dict(self._headers))),
            "on_part_data": lambda d, s, e: self.events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self.events.append(("end", None)),
        }

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()


async def receive_upload(
    stream: AsyncIterator[bytes], content_type: str, storage: ResultStorage, *, max_file_bytes: int
) -> ReceivedUpload:
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadUpload("请以 multipart/form-data 上传文件")
    collector = _Collector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:
        raise _refusal(exc) from None
    files: list[ReceivedFile] = []
    open_writers: list[ObjectWriter] = []
    description = ""
    part: _Part | None = None
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise _refusal(exc) from None
            events, collector.events = collector.events, []
            for kind, payload in events:
                if kind == "part":
                    part = _start_part(payload)
                    if part.filename is not None and len(files) >= MAX_FILES:
                        raise BadUpload(f"一次最多上传 {MAX_FILES} 个文件", field="file")
                elif kind == "data" and part is not None:
                    await _part_data(part, payload, storage, open_writers, max_file_bytes)
                elif kind == "end" and part is not None:
                    if part.filename is not None:
                        files.append(await _finish_file(part, storage, open_writers))
                    else:
                        description = _finish_text(part)
                    part = None
        try:
            parser.finalize()
        except FormParserError as exc:
            raise _refusal(exc) from None
        if part is not None:
            raise BadUpload("上传内容不完整")
        if not files:
            raise BadUpload("请至少上传一个文件（字段名 file）", field="file")
    except BaseException:
        with anyio.CancelScope(shield=True):  # even when the request is being cancelled
            for writer in open_writers:
                await writer.abort()
            for received in files:
                await storage.delete(received.stored.key)
        raise
    return ReceivedUpload(files=files, description=description)


def _start_part(headers: dict[str, bytes]) -> _Part:
    _, options = parse_options_header(headers.get("content-disposition", b""))
    name = options.get(b"name", b"").decode("utf-8", "replace")
    raw_filename = options.get(b"filename")
    if name == "file":
        if raw_filename is None:
            raise BadUpload("file 字段必须是文件", field="file")
        return _Part(
            headers=headers, field_name=name, filename=clean_filename(raw_filename.decode("utf-8", "replace"))
        )
    if name == "description" and raw_filename is None:
        return _Part(headers=headers, field_name=name)
    raise BadUpload(f"未知字段：{name}", field=name)


async def _part_data(
    part: _Part, data: bytes, storage: ResultStorage, open_writers: list[ObjectWriter], max_file_bytes: int
) -> None:
    if part.filename is None:
        part.text.extend(data)
        if len(part.text) > MAX_DESCRIPTION * 4:
            raise BadUpload(f"说明不能超过 {MAX_DESCRIPTION} 字", field="description")
        return
    part.size += len(data)
    if part.size > max_file_bytes:
        raise FileTooLarge(name=part.filename, max_bytes=max_file_bytes)
    if part.writer is None:
        part.head.extend(data)
        if len(part.head) < SNIFF_BYTES:
            return  # decide the type on the first bytes, before anything is stored
        await _open_writer(part, storage, open_writers)
        return
    await part.writer.write(data)


async def _open_writer(part: _Part, storage: ResultStorage, open_writers: list[ObjectWriter]) -> None:
    assert part.filename is not None
    part.content_type = classify(part.filename, bytes(part.head))
    part.writer = await storage.writer(new_key())
    open_writers.append(part.writer)
    await part.writer.write(bytes(part.head))
    part.head.clear()


async def _finish_file(part: _Part, storage: ResultStorage, open_writers: list[ObjectWriter]) -> ReceivedFile:
    if part.writer is None:
        await _open_writer(part, storage, open_writers)
    assert part.writer is not None and part.filename is not None
    stored = await part.writer.finish()
    open_writers.remove(part.writer)
    if stored.size == 0:
        await storage.delete(stored.key)
        raise BadUpload("文件为空", name=part.filename)
    return ReceivedFile(name=part.filename, content_type=part.content_type, stored=stored)


def _finish_text(part: _Part) -> str:
    text = part.text.decode("utf-8", "replace").strip()
    if len(text) > MAX_DESCRIPTION:
        raise BadUpload(f"说明不能超过 {MAX_DESCRIPTION} 字", field="description")
    return text
