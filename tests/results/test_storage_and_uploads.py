"""Result files stream into storage (local disk or S3) without being held in memory, hashed on the
way; dangerous types and oversize files are refused and leave nothing behind."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from results.errors import BadUpload, DangerousFileType, FileTooLarge, LinkInvalid
from results.links import signed_download_path, verify_download
from results.storage import LocalStorage
from results.uploads import classify, receive_upload

BOUNDARY = "----yixiangBoundary7MA4YWxkTrZu0gW"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part_header(name: str, filename: str | None = None, ctype: str = "application/octet-stream") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    lines = [f"--{BOUNDARY}", f"Content-Disposition: {disposition}"]
    if filename:
        lines.append(f"Content-Type: {ctype}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def body_stream(parts: list[tuple[bytes, list[bytes]]], chunk: int = 64 * 1024):
    """Yield a multipart body in network-sized chunks, never building it whole."""
    pending = b""
    for header, contents in parts:
        pending += header
        for piece in contents:
            pending += piece
            while len(pending) >= chunk:
                yield pending[:chunk]
                pending = pending[chunk:]
        pending += b"\r\n"
    pending += f"--{BOUNDARY}--\r\n".encode()
    while pending:
        yield pending[:chunk]
        pending = pending[chunk:]


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path)
    return request.getfixturevalue("s3_storage")


async def read_all(storage, key) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def test_files_and_description_are_stored_with_their_sha256(storage):
    pdf = b"%PDF-1.7\n" + os.urandom(20_000)
    raw = os.urandom(9 * 1024 * 1024 + 17)  # more than one S3 part
    upload = await receive_upload(
        body_stream(
            [
                (part_header("description"), ["核磁谱图与原始 FID 数据".encode()]),
                (part_header("file", "报告.pdf"), [pdf]),
                (part_header("file", "fid.raw"), [raw[: 4 * 1024 * 1024], raw[4 * 1024 * 1024 :]]),
            ]
        ),
        CTYPE,
        storage,
        max_file_bytes=50 * 1024 * 1024,
    )
    assert upload.description == "核磁谱图与原始 FID 数据"
    assert [(f.name, f.content_type) for f in upload.files] == [
        ("报告.pdf", "application/pdf"),
        ("fid.raw", "application/octet-stream"),
    ]
    assert upload.files[0].stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert upload.files[1].stored.size == len(raw)
    assert await read_all(storage, upload.files[1].stored.key) == raw
    assert upload.files[0].stored.key != upload.files[1].stored.key


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", b"MZ\x90\x00" + b"\x00" * 600),
        ("report.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 600),  # a program dressed as a PDF
        ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
        ("view.html", b"<html><script>alert(1)</script></html>"),
        ("chart.txt", b"  <!DOCTYPE html><html></html>"),
        ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ],
)
async def test_dangerous_types_are_refused_and_nothing_is_left(storage, tmp_path, name, content):
    good = b"%PDF-1.4 fine" + b"x" * 1000
    with pytest.raises(DangerousFileType):
        await receive_upload(
            body_stream([(part_header("file", "ok.pdf"), [good]), (part_header("file", name), [content])]),
            CTYPE,
            storage,
            max_file_bytes=10_000_000,
        )
    if isinstance(storage, LocalStorage):
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    else:
        assert storage.client.list_objects_v2(Bucket=storage.bucket).get("KeyCount", 0) == 0


async def test_an_oversize_file_is_refused_while_streaming(storage):
    with pytest.raises(FileTooLarge):
        await receive_upload(
            body_stream([(part_header("file", "big.bin"), [os.urandom(1024)] * 3000)]),
            CTYPE,
            storage,
            max_file_bytes=1024 * 1024,
        )


async def test_uploads_without_files_or_with_unknown_fields_are_refused(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(BadUpload):
        await receive_upload(
            body_stream([(part_header("description"), [b"x"])]), CTYPE, storage, max_file_bytes=10
        )
    with pytest.raises(BadUpload):
        await receive_upload(
            body_stream([(part_header("fee_fen"), [b"0"])]), CTYPE, storage, max_file_bytes=10
        )
    with pytest.raises(BadUpload):
        await receive_upload(body_stream([]), "application/json", storage, max_file_bytes=10)


def test_known_formats_are_recognised():
    assert (
        classify("a.xlsx", b"PK\x03\x04rest")
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert classify("data.csv", b"a,b\n1,2") == "text/csv"
    assert classify("img.png", b"\x89PNG\r\n\x1a\n....") == "image/png"


def test_signed_links_expire_and_resist_tampering():
    secret = "s" * 40
    file_id, user_id = uuid.uuid4(), uuid.uuid4()
    path = signed_download_path(secret, file_id, user_id, ttl_seconds=60, now=1_000_000)
    query = dict(item.split("=") for item in path.split("?")[1].split("&"))
    assert (
        verify_download(secret, file_id, query["uid"], int(query["exp"]), query["sig"], now=1_000_030)
        == user_id
    )
    with pytest.raises(LinkInvalid):  # expired
        verify_download(secret, file_id, query["uid"], int(query["exp"]), query["sig"], now=1_000_061)
    with pytest.raises(LinkInvalid):  # another file
        verify_download(secret, uuid.uuid4(), query["uid"], int(query["exp"]), query["sig"], now=1_000_030)
    with pytest.raises(LinkInvalid):  # extended expiry
        verify_download(secret, file_id, query["uid"], int(query["exp"]) + 3600, query["sig"], now=1_000_030)
    with pytest.raises(LinkInvalid):  # someone else's link
        verify_download(secret, file_id, str(uuid.uuid4()), int(query["exp"]), query["sig"], now=1_000_030)
