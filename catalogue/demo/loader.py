"""Demo catalogue: categories, seven more holding units across 浙江省, and ~360 instruments.

Idempotent (stable ids via ``demo_id``; existing rows are skipped). The instruments come from
``generate.generate`` with a fixed seed, so every install shows the same catalogue.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import demo_id
from accounts.models import Organization, OrgKind
from catalogue.categories import load_categories
from catalogue.demo.generate import UnitPlan, generate
from catalogue.events import emit_instruments_changed
from catalogue.models import Instrument, ServiceItem

DEMO_SEED = 20261123

ALL_KINDS = (
    "nmr",
    "sem",
    "tem",
    "xrd",
    "xps",
    "icpms",
    "gcms",
    "lcms",
    "ftir",
    "raman",
    "afm",
    "confocal",
    "flow",
    "dsc",
    "tga",
    "bet",
    "hplc",
    "uvvis",
    "utm",
    "qpcr",
    "laser_psa",
)

# Seven further (invented) holding units, so every city of the province has instruments.
EXTRA_UNITS: tuple[tuple[str, str, str, str], ...] = (
    ("unit-jxnh", "嘉兴南湖先进制造检测研究院", "330400", "0573"),
    ("unit-hzth", "湖州太湖绿色材料研究院", "330500", "0572"),
    ("unit-jhbw", "金华婺城新材料测试中心", "330700", "0579"),
    ("unit-qzhg", "衢州化工新材料研究院", "330800", "0570"),
    ("unit-zshy", "舟山海洋科学研究院分析测试中心", "330900", "0580"),
    ("unit-tzjd", "台州机电与模具检测研究院", "331000", "0576"),
    ("unit-lssw", "丽水生态产品检测研究院", "331100", "0578"),
)


def demo_plans() -> list[UnitPlan]:
    plans = [
        UnitPlan(
            key="unit-zjlg",
            unit_id=demo_id("unit-zjlg"),
            name="之江理工大学分析测试中心",
            region_codes=("330106", "330110"),
            labs=(
                "波谱分析实验室",
                "电子显微镜实验室",
                "X 射线分析实验室",
                "质谱与色谱实验室",
                "生物成像平台",
            ),
            address="杭州市西湖区留和路 288 号 分析测试中心大楼",
            kinds=(*ALL_KINDS, "ssnmr", "epr", "scxrd", "tabletop_sem", "fib", "fluor", "zeta", "elemental"),
            count=100,
            email_domain="zjlg.example.cn",
            phone_area="0571",
            featured=(
                ("nmr", "AVANCE NEO 600"),
                ("nmr", "AVANCE NEO 400"),
                ("nmr", "JNM-ECZ600R"),
                ("tem", "JEM-F200"),
                ("tem", "Talos F200X"),
                ("sem", "GeminiSEM 500"),
                ("sem", "SU8010"),
                ("tabletop_sem", "TM4000Plus"),
                ("xrd", "SmartLab"),
                ("xrd", "D8 ADVANCE"),
                ("icpms", "iCAP RQ"),
                ("gcms", "7890B/5977B"),
                ("xps", "ESCALAB Xi+"),
                ("raman", "LabRAM HR Evolution"),
                ("confocal", "LSM 980"),
                ("flow", "CytoFLEX S"),
                ("afm", "Dimension Icon"),
                ("ftir", "Nicolet iS50"),
            ),
            drafts=3,
            pending=3,
            extra={"asset_prefix": "ZJLG"},
        ),
        UnitPlan(
            key="unit-hzcl",
            unit_id=demo_id("unit-hzcl"),
            name="杭州材料科学研究院",
            region_codes=("330108", "330109"),
            labs=("材料表征平台", "力学性能实验室", "热分析实验室"),
            address="杭州市滨江区江南大道 1688 号",
            kinds=(
                "sem",
                "tem",
                "fib",
                "xrd",
                "xps",
                "utm",
                "nanoindent",
                "rheometer",
                "dma",
                "lfa",
                "dsc",
                "tga",
                "sta",
                "bet",
                "xct",
                "contact_angle",
                "epma",
                "raman",
            ),
            count=55,
            email_domain="hzcl.example.cn",
            phone_area="0571",
            featured=(("sem", "Regulus 8100"), ("xrd", "Empyrean"), ("fib", "Helios 5 UX")),
            drafts=1,
            extra={"asset_prefix": "HZCL"},
        ),
        UnitPlan(
            key="unit-nbhy",
            unit_id=demo_id("unit-nbhy"),
            name="宁波海洋与生命科学研究所",
            region_codes=("330212", "330206", "330203"),
            labs=("海洋环境分析实验室", "分子生物学平台", "细胞与成像平台"),
            address="宁波市鄞州区首南西路 999 号",
            kinds=(
                "icpms",
                "icpoes",
                "ic",
                "toc",
                "water_quality",
                "aas",
                "qpcr",
                "ngs",
                "flow",
                "confocal",
                "lcms",
                "gcms",
                "nmr",
                "hplc",
                "plate_reader",
            ),
            count=45,
            email_domain="nbhy.example.cn",
            phone_area="0574",
            featured=(("nmr", "AVANCE III HD 500"),),
            extra={"asset_prefix": "NBHY"},
        ),
        UnitPlan(
            key="unit-sxfz",
            unit_id=demo_id("unit-sxfz"),
            name="绍兴纺织材料检测中心",
            region_codes=("330602", "330603", "330604"),
            labs=("纺织品理化实验室", "色牢度实验室", "纤维分析实验室"),
            address="绍兴市柯桥区钱陶公路 58 号",
            kinds=(
                "colorimeter",
                "fabric_strength",
                "ftir",
                "tga",
                "dsc",
                "sem",
                "gcms",
                "hplc",
                "utm",
                "uvvis",
            ),
            count=35,
            email_domain="sxfz.example.cn",
            phone_area="0575",
            featured=(("sem", "Sigma 300"),),
            extra={"asset_prefix": "SXFZ"},
        ),
        UnitPlan(
            key="unit-wzyk",
            unit_id=demo_id("unit-wzyk"),
            name="温州医药技术研究院",
            region_codes=("330300",),
            labs=("药物分析实验室", "细胞生物学平台", "动物影像平台"),
            address="温州市鹿城区学院中路 270 号",
            kinds=(
                "lcms",
                "hplc",
                "nmr",
                "flow",
                "sorter",
                "confocal",
                "hcs",
                "spr",
                "itc",
                "cd",
                "ivis",
                "qpcr",
                "plate_reader",
                "ultracentrifuge",
                "cryoem",
                "maldi",
            ),
            count=45,
            email_domain="wzyk.example.cn",
            phone_area="0577",
            featured=(("nmr", "AVANCE NEO 400"), ("lcms", "Q Exactive Plus")),
            extra={"asset_prefix": "WZYK"},
        ),
    ]
    for key, name, city, area in EXTRA_UNITS:
        plans.append(
            UnitPlan(
                key=key,
                unit_id=demo_id(key),
                name=name,
                region_codes=(city,),
                labs=("综合分析测试实验室", "材料与环境检测实验室"),
                address=f"{name}（园区实验楼）",
                kinds=(*ALL_KINDS, "icpoes", "aas", "toc", "electrochem", "hpc", "xct"),
                count=12,
                email_domain=f"{key.removeprefix('unit-')}.example.cn",
                phone_area=area,
                extra={"asset_prefix": key.removeprefix("unit-").upper()},
            )
        )
    return plans


async def load_catalogue_demo(session: AsyncSession) -> None:
    await load_categories(session)
    for key, name, city, _ in EXTRA_UNITS:
        if await session.get(Organization, demo_id(key)) is None:
            session.add(Organization(id=demo_id(key), kind=OrgKind.unit, name=name, region_code=city))
    await session.flush()
    rows = generate(demo_plans(), DEMO_SEED, demo_id)
    existing = set(
        (await session.scalars(select(Instrument.id).where(Instrument.id.in_([r["id"] for r in rows])))).all()
    )
    new = [row for row in rows if row["id"] not in existing]
    if not new:
        return
    await insert_generated(session, new)
    await emit_instruments_changed(session, [row["id"] for row in new])


async def insert_generated(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Bulk-insert generated rows (instrument columns plus ``items``)."""
    instruments = [{k: v for k, v in row.items() if k != "items"} for row in rows]
    items = [{**item, "instrument_id": row["id"]} for row in rows for item in row["items"]]  # type: ignore[attr-defined]
    await session.execute(insert(Instrument), instruments)
    if items:
        await session.execute(insert(ServiceItem), items)
