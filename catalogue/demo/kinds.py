"""Real instrument kinds with real makers and models, for the demo and benchmark catalogues.

The kinds are data, in ``data/kinds.json``: prices are typical cost-compensation fees of Chinese
university analysis centres (external rate, yuan; internal rates are derived), values (万元)
plausible purchase prices. ``specs`` of a kind lists alternatives for each specification, one of
which an instrument gets; ``self_operation`` is the share of its instruments open to
self-operation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.models import PriceUnit, ServiceMode


@dataclass(frozen=True)
class Model:
    maker: str
    model: str
    imported: bool
    value_wan: tuple[int, int]  # purchase value range, 万元
    specs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    name: str
    mode: ServiceMode
    unit: PriceUnit
    price_yuan: int  # external rate
    turnaround: int | None = None


@dataclass(frozen=True)
class Kind:
    key: str
    name: str
    name_en: str
    category: str
    models: tuple[Model, ...]
    items: tuple[Item, ...]
    specs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    self_operation: float = 0.3  # share of instruments of this kind open to self-operation
    sample_requirements: str = "样品需标明成分、危险性；提前预约，按约定时间送达。"


def _kind(row: dict[str, Any]) -> Kind:
    return Kind(
        key=row["key"],
        name=row["name"],
        name_en=row["name_en"],
        category=row["category"],
        models=tuple(
            Model(m["maker"], m["model"], m["imported"], tuple(m["value_wan"]), m.get("specs", {}))  # type: ignore[arg-type]
            for m in row["models"]
        ),
        items=tuple(
            Item(
                i["name"], ServiceMode(i["mode"]), PriceUnit(i["unit"]), i["price_yuan"], i.get("turnaround")
            )
            for i in row["items"]
        ),
        specs={key: tuple(options) for key, options in row.get("specs", {}).items()},
        aliases=tuple(row.get("aliases", ())),
        self_operation=row["self_operation"],
        **({"sample_requirements": row["sample_requirements"]} if "sample_requirements" in row else {}),
    )


KINDS: tuple[Kind, ...] = tuple(
    _kind(row) for row in json.loads((Path(__file__).parent / "data" / "kinds.json").read_text("utf-8"))
)
KINDS_BY_KEY: dict[str, Kind] = {k.key: k for k in KINDS}


def spec_values(kind: Kind, model: Model, pick: Any) -> dict[str, str]:
    """A kind's specs with one alternative each (``pick`` chooses), then the model's own."""
    specs = {key: pick(options) for key, options in kind.specs.items()}
    specs.update(model.specs)
    return specs
