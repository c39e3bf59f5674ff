"""oversight/pdf.py: Chinese text set in the reader's built-in font comes back out as text."""

from __future__ import annotations

import io

from pypdf import PdfReader

from oversight.pdf import PdfDocument


def text_of(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def report() -> PdfDocument:
    doc = PdfDocument("购置查重评议报告", subtitle="杭州市科学技术局", footer="仪享 查重评议")
    doc.heading("一、拟购仪器")
    doc.paragraph("拟购置核磁共振波谱仪一台，用于<结构>解析 & 教学。\n第二段")
    doc.key_values([("型号", "AVANCE NEO 600"), ("价格", "¥3,200,000.00")])
    doc.table(
        ["仪器", "管理单位", "使用率"],
        [[f"核磁共振波谱仪（第{n}台）", "之江理工大学分析测试中心", f"{n}.0%"] for n in range(1, 61)],
        widths=[0.45, 0.4, 0.15],
    )
    doc.bar_chart("同类仪器使用率（%）", ["扫描电镜", "透射电镜"], [88.8, 12.5], unit="%")
    doc.column_chart(
        "每月对外服务机时", [f"{m}月" for m in range(1, 13)], [10.0 * m for m in range(1, 13)], unit="h"
    )
    return doc


def test_chinese_text_tables_and_chart_labels_read_back_from_the_pdf() -> None:
    data = report().render()
    assert data.startswith(b"%PDF-")
    pages, text = text_of(data)
    assert pages >= 2  # sixty rows do not fit on one page
    for words in (
        "购置查重评议报告",
        "杭州市科学技术局",
        "一、拟购仪器",
        "拟购置核磁共振波谱仪一台，用于<结构>解析 & 教学。",  # markup characters stay text
        "第二段",
        "AVANCE NEO 600",
        "¥3,200,000.00",
        "核磁共振波谱仪（第60台）",
        "同类仪器使用率（%）",
        "88.8%",
        "透射电镜",
        "每月对外服务机时",
        "12月",
        "120.0h",
        f"第 {pages} 页",
    ):
        assert words in text, words
    # the header row is repeated on each page the table runs over
    table_pages = [p for p in text.split("仪享 查重评议") if "核磁共振波谱仪（第" in p]
    assert len(table_pages) >= 2 and all("管理单位" in p for p in table_pages)


def test_the_same_content_renders_to_the_same_bytes() -> None:
    # a frozen document must not change when it is rendered again later
    assert report().render() == report().render()


def test_an_empty_table_says_so() -> None:
    doc = PdfDocument("报告")
    doc.table(["仪器", "使用率"], [], empty="本地区无同类仪器")
    doc.bar_chart("使用率", [], [])
    _, text = text_of(doc.render())
    assert "本地区无同类仪器" in text and "使用率" not in text
