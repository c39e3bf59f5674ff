"""Short-lived signed download links, bound to one file and one user.

The link alone authorises the download (a mini-program's downloadFile cannot send our bearer
token), so it is signed with the server secret, expires quickly and names who it was made for:
the download is recorded against that user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from urllib.parse import urlencode

from results.errors import LinkInvalid


def _mac(secret: str, file_id: uuid.UUID, user_id: uuid.UUID, expires: int) -> str:
    message = f"result-download\0{file_id}\0{user_id}\0{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_download_path(
    secret: str, file_id: uuid.UUID, user_id: uuid.UUID, ttl_seconds: int, now: float | None = None
) -> str:
    expires = int((now or time.time()) + ttl_seconds)
    query = urlencode({"uid": str(user_id), "exp": expires, "sig": _mac(secret, file_id, user_id, expires)})
    return f"/api/v1/results/{file_id}/download?{query}"


def verify_download(
    secret: str, file_id: uuid.UUID, uid: str, exp: int, sig: str, now: float | None = None
) -> uuid.UUID:
    """The user the link was made for, or raise :class:`LinkInvalid`."""
    try:
        user_id = uuid.UUID(uid)
    except ValueError as exc:
        raise LinkInvalid() from exc
    expected = _mac(secret, file_id, user_id, exp)
    if not hmac.compare_digest(expected, sig) or exp < (now or time.time()):
        raise LinkInvalid()
    return user_id
