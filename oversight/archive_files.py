"""The archive's object format (``oversight.archive``): a month of sensor readings as gzip CSV
with a header, written and read back as a stream of chunks, never whole in memory."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from oversight.errors import ReadingArchiveDamaged
from oversight.models import PowerState
from results.storage import ObjectWriter, ResultStorage, StoredObject

COLUMNS = ("sensor_id", "seq", "instrument_id", "read_at", "state", "watts", "received_at")


class GzipCsvWriter:
    """Rows of :data:`COLUMNS` (readings' attributes) into an object, compressed as they come."""

    def __init__(self, writer: ObjectWriter) -> None:
        self.writer = writer
        self.text = io.StringIO()
        self.csv = csv.writer(self.text, lineterminator="\n")
        # gzip without a file time in its header: the same rows give the same bytes
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        self.rows = 0
        self.csv.writerow(COLUMNS)

    async def write(self, readings: Iterable[Any]) -> None:
        for r in readings:
            self.csv.writerow(
                [
                    r.sensor_id,
                    r.seq,
                    str(r.instrument_id),
                    r.read_at.isoformat(),
                    PowerState(r.state).value,
                    r.watts,
                    r.received_at.isoformat(),
                ]
            )
            self.rows += 1
        await self.writer.write(self.deflate.compress(self._take()))

    async def finish(self) -> StoredObject:
        await self.writer.write(self.deflate.compress(self._take()) + self.deflate.flush())
        return await self.writer.finish()

    def _take(self) -> bytes:
        data = self.text.getvalue().encode()
        self.text.seek(0)
        self.text.truncate()
        return data


class Seen:
    """What a pass over an object found: its size, SHA-256 and data rows."""

    def __init__(self) -> None:
        self.size, self.rows, self.digest = 0, 0, hashlib.sha256()


async def object_rows(
    storage: ResultStorage, key: str, batch: int, seen: Seen | None = None
) -> AsyncIterator[list[list[str]]]:
    """The object's data rows (CSV fields) in batches of ``batch``, decompressed as it streams in."""
    seen = seen or Seen()
    inflate = zlib.decompressobj(31)
    tail, header, rows = b"", None, []

    def take(lines: list[bytes]) -> None:
        nonlocal header
        for row in csv.reader(line.decode() for line in lines):
            if header is None:
                header = tuple(row)
            else:
                rows.append(row)

    async for chunk in storage.read(key):
        seen.size += len(chunk)
        seen.digest.update(chunk)
        *lines, tail = (tail + inflate.decompress(chunk)).split(b"\n")
        take(lines)
        while len(rows) >= batch:
            seen.rows += batch
            yield rows[:batch]
            del rows[:batch]
    take([line for line in (tail + inflate.flush()).split(b"\n") if line])
    if not inflate.eof or header != COLUMNS:
        raise ReadingArchiveDamaged(object_key=key, reason="truncated" if not inflate.eof else "header")
    while rows:
        seen.rows += len(rows[:batch])
        yield rows[:batch]
        del rows[:batch]


async def verify_object(storage: ResultStorage, key: str, *, rows: int, sha256: str, size: int) -> None:
    """Read the whole object back: its row count, SHA-256 and size must be those recorded."""
    seen = Seen()
    try:
        async for _ in object_rows(storage, key, 50_000, seen):
            pass
    except ReadingArchiveDamaged:
        raise
    except Exception as exc:  # missing, unreadable, not gzip
        raise ReadingArchiveDamaged(object_key=key, reason=f"{type(exc).__name__}: {exc}") from exc
    found = (seen.rows, seen.digest.hexdigest(), seen.size)
    if found != (rows, sha256, size):
        raise ReadingArchiveDamaged(
            object_key=key,
            recorded={"rows": rows, "sha256": sha256, "bytes": size},
            found={"rows": found[0], "sha256": found[1], "bytes": found[2]},
        )


def reading_values(row: Sequence[str]) -> tuple[Any, ...]:
    """A CSV row as the readings' columns (the order of :data:`COLUMNS`)."""
    sensor_id, seq, instrument_id, read_at, state, watts, received_at = row
    return (
        sensor_id,
        int(seq),
        uuid.UUID(instrument_id),
        datetime.fromisoformat(read_at),
        PowerState(state),
        int(watts),
        datetime.fromisoformat(received_at),
    )
