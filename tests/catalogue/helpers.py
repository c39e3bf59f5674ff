"""Request bodies for the catalogue API."""

from __future__ import annotations

import uuid
from typing import Any


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
