"""Where result files live: the local filesystem (embedded default) or an S3-compatible bucket.

Files are written as a stream of chunks and read back as one, so a 300 MB data set never sits
whole in memory. Keys are random and unguessable; the SHA-256 is computed while writing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import anyio
from anyio.to_thread import run_sync

from results.settings import ResultsSettings, S3Settings
from yixiang.settings import Settings

CHUNK = 1024 * 1024
S3_PART = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB except the last


def new_key() -> str:
    token = secrets.token_urlsafe(32)
    return f"results/{token[:2]}/{token}"


class StoredObject:
    def __init__(self, key: str, size: int, sha256: str) -> None:
        self.key, self.size, self.sha256 = key, size, sha256


class ObjectWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> StoredObject: ...

    async def abort(self) -> None: ...


class ResultStorage(Protocol):
    async def writer(self, key: str) -> ObjectWriter: ...

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


# --- local filesystem -------------------------------------------------------------------------


class _LocalWriter:
    def __init__(self, root: Path, key: str, handle: Any, partial: Path) -> None:
        self.root, self.key, self.handle, self.partial = root, key, handle, partial
        self.size = 0
        self.digest = hashlib.sha256()

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)
        await self.handle.write(data)

    async def finish(self) -> StoredObject:
        await self.handle.aclose()
        final = self.root / self.key
        await run_sync(self.partial.rename, final)
        return StoredObject(self.key, self.size, self.digest.hexdigest())

    async def abort(self) -> None:
        await self.handle.aclose()
        await run_sync(lambda: self.partial.unlink(missing_ok=True))


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    async def writer(self, key: str) -> ObjectWriter:
        path = self.root / key
        await run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        partial = path.with_name(path.name + ".partial")
        handle = await anyio.open_file(partial, "wb")
        return _LocalWriter(self.root, key, handle, partial)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.root / key, "rb") as handle:
            while chunk := await handle.read(CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        await run_sync(lambda: (self.root / key).unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        return await run_sync((self.root / key).exists)


# --- S3-compatible ----------------------------------------------------------------------------


class _S3Writer:
    """A multipart upload fed in >= 8 MiB parts: memory stays bounded by one part."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None
        self.size = 0
        self.digest = hashlib.sha256()

    async def _flush(self) -> None:
        if self.upload_id is None:
            created = await run_sync(
                lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            )
            self.upload_id = created["UploadId"]
        body, number = bytes(self.buffer), len(self.parts) + 1
        self.buffer.clear()
        answer = await run_sync(
            lambda: self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
            )
        )
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)
        self.buffer.extend(data)
        if len(self.buffer) >= S3_PART:
            await self._flush()

    async def finish(self) -> StoredObject:
        if self.upload_id is None:  # small file: one plain PUT
            body = bytes(self.buffer)
            await run_sync(lambda: self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body))
        else:
            if self.buffer:
                await self._flush()
            await run_sync(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )
            )
        return StoredObject(self.key, self.size, self.digest.hexdigest())

    async def abort(self) -> None:
        if self.upload_id is not None:
            await run_sync(
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
            )


class S3Storage:
    def __init__(
        self, *, endpoint_url: str, bucket: str, access_key: str, secret_key: str, region: str
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}
            ),
        )

    async def writer(self, key: str) -> ObjectWriter:
        return _S3Writer(self.client, self.bucket, key)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        answer = await run_sync(lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        body = answer["Body"]
        try:
            while chunk := await run_sync(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await run_sync(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await run_sync(lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError:
            return False
        return True


def create_storage(settings: Settings) -> ResultStorage:
    if ResultsSettings.of(settings).storage == "s3":
        return S3Storage(
            endpoint_url=S3Settings.of(settings).endpoint_url,
            bucket=S3Settings.of(settings).bucket,
            access_key=S3Settings.of(settings).access_key,
            secret_key=S3Settings.of(settings).secret_key,
            region=S3Settings.of(settings).region,
        )
    return LocalStorage(Path(settings.data_dir) / "results")
