"""The purchase review report (在线评估报告, seed 004 §(二)): what already exists of the proposed
class, where, and how much it is used.

Same-category instruments listed in the unit, elsewhere in the city and elsewhere in the province
of the place the instrument will stand, each with its usage and sharing rates over the last full
calendar year (:mod:`oversight.indicators`), its free capacity (the annual norm less its effective
hours, not below 0; the norm pro rata for an instrument listed during the year, as its usage
rate is) and its distance from the filing unit. The report is built once, as plain
data, and stored: the page and the PDF render that record, so later records never change it.

Distance is the great-circle (haversine) distance between the proposed place (the filing's
coordinates, or else the mean of the unit's instruments' coordinates) and the instrument's
coordinates; where either is unknown the report says 未知.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, Region
from catalogue.models import Instrument, Origin
from oversight.indicators import InstrumentFigures, instrument_figures, norm_hours
from oversight.review_models import PurchaseReview
from oversight.settings import OversightSettings
from yixiang.clock import SHANGHAI, shanghai_date
from yixiang.settings import Settings

EARTH_RADIUS_KM = 6371.0088  # the mean Earth radius (IUGG)
ORIGIN_TEXT = {Origin.domestic: "国产", Origin.imported: "进口"}
SCOPES = (
    ("unit", "本单位"),
    ("city", "本市其他单位"),
    ("province", "本省其他城市"),
)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (latitude, longitude) points in degrees."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def free_hours(norm: float, effective_hours: float) -> float:
    """Hours of the norm the instrument did not use (空闲机时), never below 0."""
    return round(max(norm - effective_hours, 0.0), 2)


def city_of(region_code: str) -> str:
    return region_code[:4] + "00"


def province_of(region_code: str) -> str:
    return region_code[:2] + "0000"


def people_time(moment: datetime) -> str:
    """A moment as the document prints it: Asia/Shanghai, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def yuan_text(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


async def _place(session: AsyncSession, proposal: PurchaseReview) -> tuple[tuple[float, float] | None, str]:
    if proposal.latitude is not None and proposal.longitude is not None:
        return (proposal.latitude, proposal.longitude), "申报填写的安装地点"
    row = (
        await session.execute(
            select(func.avg(Instrument.latitude), func.avg(Instrument.longitude)).where(
                Instrument.unit_id == proposal.unit_id,
                Instrument.latitude.is_not(None),
                Instrument.longitude.is_not(None),
            )
        )
    ).one()
    if row[0] is None or row[1] is None:
        return None, "未知（本单位仪器均无坐标）"
    return (float(row[0]), float(row[1])), "本单位已入网仪器坐标的平均位置"


async def build_report(
    session: AsyncSession,
    proposal: PurchaseReview,
    *,
    unit_name: str,
    region_name: str,
    category_name: str,
    threshold_fen: int,
    settings: Settings,
) -> dict[str, Any]:
    """The report for a proposed purchase over the last full calendar year before it was filed
    (Asia/Shanghai), as plain data to store."""
    now = proposal.filed_at
    year = shanghai_date(now).year - 1
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    annual_norm = float(OversightSettings.of(settings).annual_norm_hours)
    city, province = city_of(proposal.region_code), province_of(proposal.region_code)
    # the province's region covers its cities and districts
    figures = await instrument_figures(
        session,
        region_code=province,
        start=start,
        end=end,
        category_code=proposal.category_code,
        settings=settings,
    )
    meta = await _instrument_meta(session, [f.instrument_id for f in figures])
    place, place_basis = await _place(session, proposal)
    scoped: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in SCOPES}
    for f in figures:
        info = meta[f.instrument_id]
        if f.unit_id == proposal.unit_id:
            key = "unit"
        elif str(info["region_code"]).startswith(city[:4]):
            key = "city"
        else:
            key = "province"
        norm = norm_hours(annual_norm, shanghai_date(info["published_at"]), start, end)
        scoped[key].append(_instrument_row(f, info, place, norm))
    names = await _region_names(session, {city, province})
    scopes = []
    for key, title in SCOPES:
        rows = sorted(scoped[key], key=lambda r: (r["distance_km"] is None, r["distance_km"] or 0, r["name"]))
        scopes.append(
            {
                "key": key,
                "title": title,
                "area": {
                    "unit": unit_name,
                    "city": names.get(city, city),
                    "province": names.get(province, province),
                }[key],
                "count": len(rows),
                "free_hours": round(sum(r["free_hours"] for r in rows), 2),
                "mean_usage_rate": round(sum(r["usage_rate"] for r in rows) / len(rows), 4) if rows else None,
                "instruments": rows,
            }
        )
    return {
        "year": year,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "norm_hours": annual_norm,
        "generated_at": people_time(now),
        "proposal": {
            "unit_id": str(proposal.unit_id),
            "unit_name": unit_name,
            "region_code": proposal.region_code,
            "region_name": region_name,
            "category_code": proposal.category_code,
            "category_name": category_name,
            "instrument_name": proposal.instrument_name,
            "model": proposal.model,
            "price_fen": proposal.price_fen,
            "justification": proposal.justification,
            "expected_hours_per_year": proposal.expected_hours_per_year,
            "origin": proposal.origin.value,
            "threshold_fen": threshold_fen,
        },
        "place": {
            "latitude": place[0] if place else None,
            "longitude": place[1] if place else None,
            "basis": place_basis,
        },
        "scopes": scopes,
        # a flag refuses the filing (oversight.review), so a generated report always says 否
        "low_usage_flag": False,
    }


def _instrument_row(
    f: InstrumentFigures, info: dict[str, Any], place: tuple[float, float] | None, norm: float
) -> dict[str, Any]:
    lat, lon = info.get("latitude"), info.get("longitude")
    distance = (
        round(haversine_km(place, (lat, lon)), 1)
        if place is not None and lat is not None and lon is not None
        else None
    )
    return {
        "instrument_id": str(f.instrument_id),
        "name": f.name,
        "model": info.get("model", ""),
        "unit_name": info.get("unit_name", ""),
        "region_name": info.get("region_name", ""),
        "hours_source": f.hours_source,
        "effective_hours": f.effective_hours,
        "external_hours": f.external_hours,
        "usage_rate": f.usage_rate,
        "sharing_rate": f.sharing_rate,
        "norm_hours": round(norm, 2),
        "free_hours": free_hours(norm, f.effective_hours),
        "distance_km": distance,
    }


async def _instrument_meta(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Instrument.id,
            Instrument.model,
            Instrument.region_code,
            Instrument.latitude,
            Instrument.longitude,
            Organization.name,
            Region.name,
            Instrument.published_at,
        )
        .join(Organization, Organization.id == Instrument.unit_id)
        .join(Region, Region.code == Instrument.region_code)
        .where(Instrument.id.in_(ids))
    )
    return {
        r[0]: {
            "model": r[1],
            "region_code": r[2],
            "latitude": r[3],
            "longitude": r[4],
            "unit_name": r[5],
            "region_name": r[6],
            "published_at": r[7],
        }
        for r in rows.all()
    }


async def _region_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    return dict((await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))).all())
