"""Request bodies and monthly-push files for the catalogue API."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from catalogue.transfer import HEADERS


def instrument_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "asset_number": f"T-{uuid.uuid4().hex[:12]}",
        "name": "场发射扫描电子显微镜",
        "name_en": "Field-emission SEM",
        "model": "Sigma 300",
        "manufacturer": "Zeiss",
        "origin": "imported",
        "category_code": "0101",
        "original_value_fen": 320_000_000,
        "acceptance_date": "2025-09-26",
        "purchase_date": "2025-06-01",
        "region_code": "330106",
        "lab": "电子显微镜实验室",
        "address": "杭州市西湖区留和路 288 号",
        "latitude": 30.29,
        "longitude": 120.08,
        "self_operation": True,
        "operator_run": True,
        "sample_testing": True,
        "specifications": {"分辨率": "1.2 nm @ 15 kV"},
        "contact_name": "电镜室前台",
        "contact_phone": "0571-00001234",
        "contact_email": "sem@zjlg.example.cn",
        "fee_basis": "成本补偿、非营利",
        "service_items": [
            {
                "name": "上机机时",
                "mode": "machine_time",
                "price_unit": "per_hour",
                "internal_price_fen": 24_000,
                "external_price_fen": 40_000,
            },
            {
                "name": "形貌观察",
                "mode": "sample_testing",
                "price_unit": "per_sample",
                "internal_price_fen": 12_000,
                "external_price_fen": 20_000,
                "turnaround_working_days": 3,
            },
        ],
    }
    body.update(changes)
    return body


def row(asset: str, **changes: str) -> list[str]:
    values = {
        "资产编号": asset,
        "仪器名称": "X射线衍射仪",
        "英文名称": "X-ray diffractometer",
        "别名": "粉末衍射; PXRD",
        "规格型号": "SmartLab",
        "生产厂商": "Rigaku",
        "产地": "进口",
        "分类代码": "0103",
        "原值（元）": "2150000.00",
        "购置日期": "2024-03-01",
        "验收日期": "2024-05-20",
        "所在实验室": "X 射线分析实验室",
        "安放地址": "杭州市西湖区留和路 288 号",
        "行政区划代码": "330106",
        "纬度": "30.29",
        "经度": "120.08",
        "运行状态": "在用",
        "对外开放": "是",
        "自主上机": "是",
        "机时服务": "是",
        "送样检测": "是",
        "技术指标": "光源: 9 kW 转靶; 测角仪半径: 300 mm",
        "样品要求": "粉末约 0.5 g",
        "联系人": "X 射线室前台",
        "联系电话": "0571-00005678",
        "电子邮箱": "xrd@zjlg.example.cn",
        "适用创新券": "是",
        "海关监管截止日期": "",
        "收费依据": "成本补偿、非营利",
        "收费项目": "粉末物相分析|送样|样|36.00|60.00|3; 上机机时|机时|小时|120|200",
    }
    values.update(changes)
    return [values[h] for h in HEADERS]


def as_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADERS, *rows])
    return buffer.getvalue().encode("utf-8")
