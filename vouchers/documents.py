"""Small documents kept in the database beside the record they belong to (an application's
licence, an invoice's PDF): checked by their first bytes (never by their name) and size, then
stored with their digest in the same transaction as their record; served back as a download."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from litestar import Response

from vouchers.errors import AttachmentInvalid

PDF_KINDS = {b"%PDF-": "application/pdf"}
# What a licence or certificate is sent as.
DOCUMENT_KINDS = {
    **PDF_KINDS,
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
KIND_NAMES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    name: str
    content_type: str
    size: int
    sha256: str
    data: bytes


def checked_document(
    name: str,
    data: bytes,
    *,
    kinds: Mapping[bytes, str] = DOCUMENT_KINDS,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    what: str = "附件",
) -> Document:
    kind = next((k for magic, k in kinds.items() if data.startswith(magic)), None)
    if kind is None:
        names = "、".join(dict.fromkeys(KIND_NAMES[k] for k in kinds.values()))
        article = " 或 ".join(names.rsplit("、", 1))
        raise AttachmentInvalid(f"{what}须为 {article} 文件", reason="type")
    if len(data) > max_bytes:
        raise AttachmentInvalid(
            f"{what}不能超过 {max_bytes // (1024 * 1024)} MB", reason="size", max_bytes=max_bytes
        )
    return Document(
        name=(name.strip() or what)[:200],
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def download(name: str, content_type: str, data: bytes) -> Response[bytes]:
    return Response(
        data,
        media_type=content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
