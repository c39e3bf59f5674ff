"""Demo data for the embedded default and ``yixiang demo load``: regions, organisations, accounts.

Everything has a stable id (uuid5 of a name) so loading twice changes nothing. Organisation
names are invented; no real person's data. The other domains' demo data build on these, through
their own ``Domain.demo_loaders``, run after this one in domain order.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import hash_password
from accounts.models import BureauKind, Membership, Organization, OrgKind, Role, User
from accounts.regions import load_regions

DEMO_NAMESPACE = uuid.UUID("6f1c2b7e-3f8a-4d1e-9a57-0c4b7d2e9f10")
DEMO_PASSWORD = "yixiang-demo"
DEMO_PROVINCE = "330000"  # 浙江省


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, name)


# (key, kind, name, uscc, region, extra)
ORGANIZATIONS: list[tuple[str, OrgKind, str, str | None, str, dict[str, object]]] = [
    ("platform", OrgKind.platform, "仪享平台运营中心", None, "330000", {}),
    ("unit-zjlg", OrgKind.unit, "之江理工大学分析测试中心", "12330000MB0000001X", "330100", {}),
    ("unit-hzcl", OrgKind.unit, "杭州材料科学研究院", "12330100MB0000002Y", "330100", {}),
    ("unit-nbhy", OrgKind.unit, "宁波海洋与生命科学研究所", "12330200MB0000003Q", "330200", {}),
    ("unit-sxfz", OrgKind.unit, "绍兴纺织材料检测中心", "12330600MB0000004K", "330600", {}),
    ("unit-wzyk", OrgKind.unit, "温州医药技术研究院", "12330300MB0000005D", "330300", {}),
    (
        "firm-qinghe",
        OrgKind.enterprise,
        "杭州青禾生物科技有限公司",
        "91330106MA2AAAAA1B",
        "330100",
        {"is_tech_sme": True},
    ),
    (
        "firm-lanwan",
        OrgKind.enterprise,
        "宁波蓝湾新材料有限公司",
        "91330212MA2BBBBB2C",
        "330200",
        {"is_tech_sme": True},
    ),
    (
        "firm-zjlg-lab",
        OrgKind.enterprise,
        "之江理工科技园孵化企业（联合实验室）",
        "91330106MA2CCCCC3D",
        "330100",
        {"is_tech_sme": True, "parent": "unit-zjlg"},
    ),
    (
        "bureau-hz-sci",
        OrgKind.bureau,
        "杭州市科学技术局",
        None,
        "330100",
        {"bureau_kind": BureauKind.science},
    ),
    ("bureau-hz-fin", OrgKind.bureau, "杭州市财政局", None, "330100", {"bureau_kind": BureauKind.finance}),
    (
        "bureau-nb-sci",
        OrgKind.bureau,
        "宁波市科学技术局",
        None,
        "330200",
        {"bureau_kind": BureauKind.science},
    ),
    # 宁波's side of cross-region use (通用通兑): a firm holding 宁波's vouchers, and the bureau
    # that settles them (vouchers/demo.py)
    (
        "firm-nb-haiyun",
        OrgKind.enterprise,
        "宁波海韵智能装备有限公司",
        "91330212MA2DDDDD4E",
        "330212",
        {"is_tech_sme": True},
    ),
    ("bureau-nb-fin", OrgKind.bureau, "宁波市财政局", None, "330200", {"bureau_kind": BureauKind.finance}),
]

# (username, display name, organisation key, role)
ACCOUNTS: list[tuple[str, str, str, Role]] = [
    ("demo-researcher", "演示研究员（青禾生物）", "firm-qinghe", Role.researcher),
    ("demo-researcher-2", "演示研究员（蓝湾新材料）", "firm-lanwan", Role.researcher),
    ("demo-firm-admin", "演示企业管理员（青禾生物）", "firm-qinghe", Role.enterprise_admin),
    ("demo-provider", "演示仪器管理员（之江理工）", "unit-zjlg", Role.provider_staff),
    ("demo-unit-admin", "演示单位管理员（之江理工）", "unit-zjlg", Role.unit_admin),
    ("demo-science-bureau", "演示科技局经办人（杭州）", "bureau-hz-sci", Role.bureau_officer),
    ("demo-finance-bureau", "演示财政局经办人（杭州）", "bureau-hz-fin", Role.bureau_officer),
    ("demo-admin", "演示平台管理员", "platform", Role.platform_admin),
    # 宁波: a firm using 宁波's vouchers at 杭州's providers too (通用通兑), and its bureau
    ("demo-researcher-nb", "演示研究员（海韵智能装备）", "firm-nb-haiyun", Role.researcher),
    ("demo-science-bureau-nb", "演示科技局经办人（宁波）", "bureau-nb-sci", Role.bureau_officer),
]


async def load_accounts_demo(session: AsyncSession) -> None:
    await load_regions(session)
    for key, kind, name, uscc, region, extra in ORGANIZATIONS:
        org_id = demo_id(key)
        if await session.get(Organization, org_id) is not None:
            continue
        parent = extra.get("parent")
        session.add(
            Organization(
                id=org_id,
                kind=kind,
                name=name,
                uscc=uscc,
                region_code=region,
                bureau_kind=extra.get("bureau_kind"),
                is_tech_sme=bool(extra.get("is_tech_sme", False)),
                parent_id=demo_id(str(parent)) if parent else None,
            )
        )
    await session.flush()
    password_hash = None
    for username, display_name, org_key, role in ACCOUNTS:
        user_id = demo_id(username)
        if await session.get(User, user_id) is not None:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        session.add(
            User(id=user_id, username=username, display_name=display_name, password_hash=password_hash)
        )
        await session.flush()
        session.add(Membership(user_id=user_id, organization_id=demo_id(org_key), role=role))
    await session.flush()
