"""What can go wrong delivering results, each with its stable code."""

from __future__ import annotations

from yixiang.errors import DomainError, InvalidUpload


class BadUpload(InvalidUpload):
    """The upload's form or fields are wrong (code ``invalid_upload``, like the shell's)."""


class FileTooLarge(DomainError):
    status = 413
    code = "file_too_large"
    message = "文件超过大小上限"


class DangerousFileType(DomainError):
    status = 415
    code = "file_type_refused"
    message = "不允许上传此类文件（可执行程序、脚本或网页）"


class LinkInvalid(DomainError):
    status = 403
    code = "link_invalid"
    message = "下载链接无效或已过期，请重新获取"
