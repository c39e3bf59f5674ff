"""Large downloads as long jobs (issue 23): above the row threshold (lowered here) the bookings
table and a settlement batch are made in the background, their job's page shows the progress and
then offers the file, which holds what the immediate download holds; below it the download comes
at once. The job and its file are there for who may see them, not for another unit or officer."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import timedelta

import msgspec
import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from accounts.demo import demo_id
from accounts.models import Role, User
from console.exports import PURGE_TOPIC, purge_old_exports
from console.settings import ConsoleSettings
from tests.attack.test_authz_matrix import FB, PA, SB, P, voucher_world
from tests.booking.world import make_user
from tests.console.desk import finished_job, signed_in
from tests.console.paying import with_password
from tests.console.test_page_matrix import export_job
from yixiang.db import utcnow
from yixiang.domains import JobContext
from yixiang.long_jobs import LongJob
from yixiang.outbox import Event

BOOKINGS = "/console/bookings?when=all&sort=number&dir=asc"


@pytest.fixture
def export_job_rows(backend) -> Iterator[Callable[[int], None]]:
    """``export_job_rows(n)``: a download of more than ``n`` rows becomes a job (until the test ends)."""
    settings = backend.app.state.settings
    shipped = ConsoleSettings.of(settings)
    sections = settings.__dict__["_sections"]

    def lowered(rows: int) -> None:
        sections[ConsoleSettings] = msgspec.structs.replace(shipped, export_job_rows=rows)

    try:
        yield lowered
    finally:
        sections[ConsoleSettings] = shipped


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_a_large_bookings_download_is_a_job_whose_file_matches_the_table(backend, export_job_rows):
    staff = await signed_in(backend, P)
    export_job_rows(1_000_000)
    at_once = await staff.get(f"{BOOKINGS}&format=csv")
    assert at_once.status_code == 200 and at_once.headers["content-type"].startswith("text/csv")
    table = csv_rows(at_once.content)
    assert len(table) > 2, "the demo unit has bookings"

    export_job_rows(1)  # the table has more rows than this: a job
    r = await staff.get(f"{BOOKINGS}&format=csv")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/jobs/")
    job = await finished_job(staff, r.headers["location"])
    total = len(table) - 1
    assert 'data-status="done"' in job.text and f"{total} / {total}" in job.text
    assert f"（{total} 行）" in job.text and "bookings-all.csv" in job.text
    file = await staff.get(f"{r.headers['location']}/file")
    assert file.status_code == 200 and "bookings-all.csv" in file.headers["content-disposition"]
    made = csv_rows(file.content)
    assert made[0] == table[0] and sorted(row[0] for row in made[1:]) == sorted(row[0] for row in table[1:])

    # left and come back to: the bookings page lists it with its file
    listed = await staff.get("/console/bookings")
    assert f'href="{r.headers["location"]}"' in listed.text
    assert f'href="{r.headers["location"]}/file"' in listed.text

    # the same as a workbook
    r = await staff.get(f"{BOOKINGS}&format=xlsx")
    job = await finished_job(staff, r.headers["location"])
    book = load_workbook(io.BytesIO((await staff.get(f"{r.headers['location']}/file")).content))
    sheet = book.active
    assert sheet is not None and [c.value for c in sheet[1]] == table[0] and sheet.max_row == len(table)

    # another unit's staff and the bureaus: no such job
    stranger = await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff)
    others = [await with_password(backend, User.username == stranger), await signed_in(backend, SB)]
    for other in others:
        assert (await other.get(r.headers["location"])).status_code == 404
        refused = await other.get(f"{r.headers['location']}/file")
        assert refused.status_code == 404 and "预约号" not in refused.text


async def test_a_large_settlement_export_is_a_job_for_the_officer_who_asked(
    backend, client, login, export_job_rows
):
    s = await voucher_world(backend, client, login)
    batch = await s.settlement("draft")
    officer = await signed_in(backend, FB)
    export = f"/console/settlements/{batch}/export?format=csv"
    export_job_rows(1_000_000)
    at_once = await officer.get(export)
    assert at_once.status_code == 200

    export_job_rows(0)
    r = await officer.get(export)
    assert r.status_code == 303, r.text
    job = await finished_job(officer, r.headers["location"])
    assert 'data-status="done"' in job.text and 'id="download"' in job.text
    assert '<a href="/console/settlements">返回</a>' in job.text  # back to where it started
    file = await officer.get(f"{r.headers['location']}/file")
    assert file.status_code == 200 and file.content == at_once.content
    page = await officer.get(f"/console/settlements/{batch}")
    assert f'href="{r.headers["location"]}/file"' in page.text

    # the science officer of the region reads the batch but not this officer's job; the operator does
    science = await signed_in(backend, SB)
    assert (await science.get(f"{r.headers['location']}/file")).status_code == 404
    operator = await signed_in(backend, PA)
    assert (await operator.get(f"{r.headers['location']}/file")).content == at_once.content


async def test_a_download_past_its_retention_is_deleted_and_its_page_says_so(backend):
    old, recent = await export_job(backend), await export_job(backend)
    async with backend.runtime.session_maker() as session, session.begin():
        kept = ConsoleSettings.of(backend.settings).export_retention_days
        for job_id, age in ((old, kept + 1), (recent, 0)):
            await session.execute(
                update(LongJob).where(LongJob.id == job_id).values(finished_at=utcnow() - timedelta(days=age))
            )
    async with backend.runtime.session_maker() as session, session.begin():
        ctx = JobContext(session, backend.settings, backend.app.state.store, backend.runtime.services)
        await purge_old_exports(
            ctx, Event(id=0, topic=PURGE_TOPIC, payload={}, attempts=0, created_at=utcnow())
        )
    staff = await signed_in(backend, P)
    gone = await staff.get(f"/console/jobs/{old}/file")
    assert gone.status_code == 404 and "文件已过期删除，请重新导出" in gone.text
    page = await staff.get(f"/console/jobs/{old}")
    assert 'id="expired"' in page.text and 'id="download"' not in page.text
    assert (await staff.get(f"/console/jobs/{recent}/file")).status_code == 200
