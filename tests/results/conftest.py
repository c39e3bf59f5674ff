"""An S3-compatible server on loopback (moto's, speaking the real S3 protocol over HTTP)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_storage(s3_endpoint):
    import uuid

    from results.storage import S3Storage

    storage = S3Storage(
        endpoint_url=s3_endpoint,
        bucket=f"results-{uuid.uuid4().hex[:8]}",
        access_key="test",
        secret_key="test-secret",
        region="cn-north-1",
    )
    storage.client.create_bucket(
        Bucket=storage.bucket, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"}
    )
    return storage
