"""Publishing the yearly report (统计年报): the bureaus of a region preview the draft, computed from
the records; the region's science bureau (科技局) publishes it once the year is over. Publishing
freezes the figures (and the PDF made from them) as they were: later records change drafts, never
a published report. The public reads published reports only.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BureauKind, Organization, Region, Role
from oversight.report import compute_report
from oversight.report_errors import (
    NotRegionBureauOfReport,
    NotRegionScienceBureau,
    ReportAlreadyPublished,
    ReportNotPublished,
    ReportYearNotOver,
)
from oversight.report_models import PublishedYearlyReport
from oversight.report_pdf import report_pdf
from oversight.report_schema import PublishedReportOut, YearlyReport
from yixiang.clock import shanghai_today
from yixiang.db import transaction, utcnow

_decoder = msgspec.json.Decoder(YearlyReport)


def may_preview(principal: Principal, region_code: str) -> bool:
    return region_code in principal.regions_where(Role.bureau_officer)


async def science_bureau_of(
    session: AsyncSession, principal: Principal, region_code: str
) -> Organization | None:
    """The science bureau of ``region_code`` the caller is an officer of, if any."""
    ids = [
        m.organization_id
        for m in principal.memberships
        if m.role == Role.bureau_officer and m.region_code == region_code
    ]
    if not ids:
        return None
    return await session.scalar(
        select(Organization).where(Organization.id.in_(ids), Organization.bureau_kind == BureauKind.science)
    )


async def draft_report(
    session: AsyncSession, principal: Principal, region_code: str, year: int
) -> YearlyReport:
    """The report as the records stand now: for the region's bureaus only."""
    if not may_preview(principal, region_code):
        raise NotRegionBureauOfReport()
    async with transaction(session, read_only=True):
        return await compute_report(session, region_code, year)


async def publish_report(
    session: AsyncSession,
    principal: Principal | None,
    region_code: str,
    year: int,
    *,
    now: datetime | None = None,
) -> PublishedYearlyReport:
    """Freeze the year's figures and make them public. ``principal`` None: the demo loader."""
    now = now or utcnow()
    async with transaction(session):
        if principal is not None:
            bureau = await science_bureau_of(session, principal, region_code)
            if bureau is None:
                raise NotRegionScienceBureau()
            bureau_name = bureau.name
        else:
            bureau_name = ""
        if year >= shanghai_today(now).year:
            raise ReportYearNotOver(year=year)
        if await session.get(PublishedYearlyReport, (region_code, year)) is not None:
            raise ReportAlreadyPublished(region_code=region_code, year=year)
        report = await compute_report(session, region_code, year)
        report.published_at, report.publisher = now, bureau_name
        record = PublishedYearlyReport(
            region_code=region_code,
            year=year,
            report=msgspec.json.encode(report),
            pdf=report_pdf(report, bureau_name),
            published_by=principal.user_id if principal else None,
            published_at=now,
            bureau_name=bureau_name,
        )
        try:
            async with session.begin_nested():
                session.add(record)
        except IntegrityError as exc:  # another officer published it a moment before
            raise ReportAlreadyPublished(region_code=region_code, year=year) from exc
    return record


async def published_record(session: AsyncSession, region_code: str, year: int) -> PublishedYearlyReport:
    async with transaction(session, read_only=True):
        record = await session.get(PublishedYearlyReport, (region_code, year))
    if record is None:
        raise ReportNotPublished(region_code=region_code, year=year)
    return record


def decoded(record: PublishedYearlyReport) -> YearlyReport:
    return _decoder.decode(record.report)


# Published reports never change: each process keeps the ones it read (keyed by database too:
# the tests run two apps in one process). Callers must not modify what they are given.
_published: dict[tuple[str, str, int], YearlyReport] = {}
KEPT = 256


def database_of(session: AsyncSession) -> str:
    """Which database a session reads (its engine's address): what the process-wide caches key on."""
    engine = getattr(session.bind, "engine", session.bind)  # a connection's engine, or the engine
    return str(getattr(engine, "url", ""))


async def published_report(session: AsyncSession, region_code: str, year: int) -> YearlyReport:
    """A published report as the public reads it (404 ``report_not_published`` before)."""
    key = (database_of(session), region_code, year)
    found = _published.get(key)
    if found is None:
        found = decoded(await published_record(session, region_code, year))
        if len(_published) >= KEPT:
            _published.pop(next(iter(_published)))
        _published[key] = found
    return found


async def published_pdf(session: AsyncSession, region_code: str, year: int) -> bytes | None:
    async with transaction(session, read_only=True):
        found = (
            await session.execute(
                select(PublishedYearlyReport.pdf).where(
                    PublishedYearlyReport.region_code == region_code, PublishedYearlyReport.year == year
                )
            )
        ).first()
    if found is None:
        raise ReportNotPublished(region_code=region_code, year=year)
    return found[0]


async def published_list(session: AsyncSession) -> list[PublishedReportOut]:
    """Every published report, newest year first."""
    async with transaction(session, read_only=True):
        rows = await session.execute(
            select(
                PublishedYearlyReport.region_code,
                Region.name,
                PublishedYearlyReport.year,
                PublishedYearlyReport.published_at,
            )
            .join(Region, Region.code == PublishedYearlyReport.region_code)
            .order_by(PublishedYearlyReport.year.desc(), PublishedYearlyReport.region_code)
            .limit(1000)
        )
    return [
        PublishedReportOut(region_code=code, region_name=name, year=int(year), published_at=at)
        for code, name, year, at in rows.all()
    ]
