"""Deterministic catalogue generation (fixed seed, stable ids) for the demo and the benchmarks.

``generate(plans, seed, make_id)`` returns plain row dictionaries (an instrument and its service
items), the same every run: the demo loader inserts them with ``demo_id`` ids, the benchmark
generator makes 100,000 of them for load tests. No real person's data: contacts are a lab's
front desk with an invalid-by-construction phone number (local numbers never start with 0000).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from catalogue.demo.kinds import KINDS_BY_KEY, Kind, Model, spec_values
from catalogue.models import InstrumentStatus, Origin, PublicationStatus, ServiceMode
from yixiang.clock import SHANGHAI

CITY_CENTRES: dict[str, tuple[float, float]] = {
    "330100": (30.274, 120.155),
    "330200": (29.868, 121.544),
    "330300": (27.994, 120.699),
    "330400": (30.746, 120.756),
    "330500": (30.894, 120.088),
    "330600": (30.000, 120.580),
    "330700": (29.079, 119.647),
    "330800": (28.936, 118.874),
    "330900": (29.985, 122.207),
    "331000": (28.656, 121.421),
    "331100": (28.452, 119.923),
}

FEE_BASIS = (
    "依据本单位大型科研仪器开放共享收费管理办法，按“成本补偿、非营利”原则核定："
    "收费包含材料消耗费、仪器运行维护费和技术服务人员劳务费，不含仪器折旧；"
    "本单位及附属单位用户执行校内价，其他用户执行校外价。"
)


@dataclass(frozen=True)
class UnitPlan:
    key: str
    unit_id: uuid.UUID
    name: str
    region_codes: tuple[str, ...]  # districts or the city itself
    labs: tuple[str, ...]
    address: str
    kinds: tuple[str, ...]  # kinds this unit holds (uniformly drawn)
    count: int
    email_domain: str
    phone_area: str
    featured: tuple[tuple[str, str], ...] = ()  # (kind, model) listed first, in this order
    drafts: int = 0  # the last few stay unpublished (draft, then pending)
    pending: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _city(region_code: str) -> str:
    return region_code[:4] + "00"


def _pick_model(rng: random.Random, kind: Kind, model_name: str | None) -> Model:
    if model_name:
        for model in kind.models:
            if model.model == model_name:
                return model
    return rng.choice(kind.models)


def _price_fen(rng: random.Random, yuan: int) -> int:
    factor = rng.choice((0.8, 0.9, 1.0, 1.0, 1.2, 1.5))
    return max(100, round(yuan * factor / 10) * 1000) if yuan >= 10 else yuan * 100


def generate(
    plans: Sequence[UnitPlan], seed: int, make_id: Callable[[str], uuid.UUID]
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for plan in plans:
        for index in range(plan.count):
            if index < len(plan.featured):
                kind_key, model_name = plan.featured[index]
            else:
                kind_key, model_name = rng.choice(plan.kinds), ""
            rows.append(_instrument(rng, plan, index, KINDS_BY_KEY[kind_key], model_name, make_id))
    return rows


def _instrument(
    rng: random.Random,
    plan: UnitPlan,
    index: int,
    kind: Kind,
    model_name: str,
    make_id: Callable[[str], uuid.UUID],
) -> dict[str, Any]:
    model = _pick_model(rng, kind, model_name)
    instrument_id = make_id(f"instrument:{plan.key}:{index}")
    region = rng.choice(plan.region_codes)
    lat0, lng0 = CITY_CENTRES.get(_city(region), (30.274, 120.155))
    acceptance = date(2012, 1, 1) + timedelta(days=rng.randint(0, 5000))
    purchase = acceptance - timedelta(days=rng.randint(20, 150))
    # Most are listed within a few weeks of acceptance; about one in eight late.
    listed_after = rng.randint(60, 200) if rng.random() < 0.12 else rng.randint(5, 35)
    published_at = datetime.combine(acceptance + timedelta(days=listed_after), time(10), tzinfo=SHANGHAI)
    unpublished_from = plan.count - plan.drafts - plan.pending
    if index >= unpublished_from:
        publication = (
            PublicationStatus.draft if index - unpublished_from < plan.drafts else PublicationStatus.pending
        )
        published = None
    else:
        publication, published = PublicationStatus.published, published_at.astimezone(UTC)
    roll = rng.random()
    status = (
        InstrumentStatus.retired
        if roll < 0.01
        else InstrumentStatus.maintenance
        if roll < 0.05
        else InstrumentStatus.in_service
    )
    if status == InstrumentStatus.retired and publication == PublicationStatus.published:
        publication = PublicationStatus.withdrawn
    has_machine_time = any(item.mode == ServiceMode.machine_time for item in kind.items)
    has_samples = any(item.mode == ServiceMode.sample_testing for item in kind.items)
    self_operation = has_machine_time and rng.random() < kind.self_operation
    items = []
    for position, item in enumerate(kind.items):
        external = _price_fen(rng, item.price_yuan)
        items.append(
            {
                "id": make_id(f"service-item:{plan.key}:{index}:{position}"),
                "position": position,
                "name": item.name,
                "mode": item.mode,
                "price_unit": item.unit,
                "external_price_fen": external,
                "internal_price_fen": round(external * 0.6 / 100) * 100 or external,
                "turnaround_working_days": item.turnaround,
                "description": "",
                "active": True,
            }
        )
    value_fen = rng.randint(*model.value_wan) * 1_000_000
    customs_until = None
    if model.imported and acceptance.year >= 2022 and rng.random() < 0.4:
        day = min(acceptance.day, 28) if acceptance.month == 2 else acceptance.day
        customs_until = acceptance.replace(year=acceptance.year + 3, day=day)  # 科教用品免税进口：监管期 3 年
    # These draws once made up rating figures; an instrument's figures now come only from its
    # stored ratings (ratings.services.recompute_aggregates). They are still drawn, in their old
    # places, so every other value of the seeded catalogue (and what is built on it) stays put.
    made_up_count = rng.choice((0, 0, 3, 8, 15, 27, 42, 66))
    row = {
        "id": instrument_id,
        "asset_number": f"{plan.extra.get('asset_prefix', 'ZC')}{acceptance.year}{index:05d}",
        "name": kind.name,
        "name_en": kind.name_en,
        "aliases": list(kind.aliases),
        "model": model.model,
        "manufacturer": model.maker,
        "origin": Origin.imported if model.imported else Origin.domestic,
        "category_code": kind.category,
        "original_value_fen": value_fen,
        "purchase_date": purchase,
        "acceptance_date": acceptance,
        "unit_id": plan.unit_id,
        "lab": rng.choice(plan.labs),
        "address": plan.address,
        "region_code": region,
        "latitude": round(lat0 + rng.uniform(-0.06, 0.06), 5),
        "longitude": round(lng0 + rng.uniform(-0.06, 0.06), 5),
        "status": status,
        "publication": publication,
        "published_at": published,
        "open_to_public": rng.random() < 0.95,
        "self_operation": self_operation,
        "operator_run": has_machine_time,
        "sample_testing": has_samples,
        "specifications": spec_values(kind, model, rng.choice),
        "sample_requirements": kind.sample_requirements,
        "photos": [f"https://img.yixiang.example/instruments/{kind.key}-{rng.randint(1, 3)}.jpg"],
        "contact_name": "仪器共享服务前台",
        "contact_phone": f"{plan.phone_area}-0000{rng.randint(1000, 9999)}",
        "contact_email": f"share@{plan.email_domain}",
        "voucher_eligible": rng.random() < 0.9,
        "customs_supervised_until": customs_until,
        "fee_basis": FEE_BASIS,
        "items": items,
    }
    if made_up_count:
        rng.uniform(3.6, 5.0)
    return row
