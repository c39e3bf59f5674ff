"""A table as a download: CSV (UTF-8 with BOM, which Excel opens in Chinese) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from litestar import Response

from yixiang.openapi import CSV, XLSX


def download(header: Sequence[str], rows: Sequence[Sequence[Any]], format: str, name: str) -> Response[bytes]:
    """The rows under their header as ``name.csv`` or ``name.xlsx`` (``format``: csv | xlsx)."""
    content, media = table_bytes(header, rows, format)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )


def table_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], format: str) -> tuple[bytes, str]:
    """The rows under their header as a file's bytes and its media type (``format``: csv | xlsx)."""
    if format == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        out = io.BytesIO()
        book.save(out)
        content, media = out.getvalue(), XLSX
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        content, media = ("\ufeff" + text.getvalue()).encode("utf-8"), CSV
    return content, media
