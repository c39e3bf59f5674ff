"""PDF documents the bureaus hand on (purchase review reports, the yearly report): a small builder
over reportlab.

Chinese is set in reportlab's built-in CID font STSong-Light (Adobe-GB1, the reader's own font), so
no font file ships with the app; text stays text (copy, search, pypdf reads it back). Output is
invariant: the same content gives the same bytes (no creation time or random id), so a frozen
document renders to the same file whenever it is asked for.

    doc = PdfDocument("购置查重评议报告", subtitle="杭州市科学技术局")
    doc.heading("一、拟购仪器")
    doc.key_values([("型号", "Bruker AVANCE NEO 600"), ("价格", "¥3,200,000.00")])
    doc.table(["仪器", "使用率"], [["核磁共振波谱仪", "42.0%"]])
    doc.bar_chart("使用率（%）", ["A", "B"], [42.0, 12.5])
    doc.column_chart("每月对外服务机时", ["1月", "2月"], [120.0, 98.5], unit="h")
    data = doc.render()
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import HRFlowable

FONT = "STSong-Light"
MAX_BARS = 30  # a longer chart is unreadable on a page: the caller keeps the top of its list
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
ACCENT = colors.HexColor("#1f5fa8")
RULE = colors.HexColor("#c8d1dc")
SHADE = colors.HexColor("#eef3f9")


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _style(name: str, size: float, *, leading: float | None = None, **extra: object) -> ParagraphStyle:
    # wordWrap="CJK" breaks lines between any two Chinese characters (there are no spaces)
    return ParagraphStyle(
        name, fontName=_font(), fontSize=size, leading=leading or size * 1.45, wordWrap="CJK", **extra
    )


def _escape(text: str) -> str:
    # Paragraph reads a small markup language: what the caller hands in is text, not markup
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class PdfDocument:
    """An A4 document built top to bottom; ``render`` returns the PDF's bytes."""

    title: str
    subtitle: str | None = None
    footer: str | None = None  # printed at the foot of every page beside the page number
    _story: list[Flowable] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._title_style = _style("title", 18, alignment=TA_CENTER, spaceAfter=4, textColor=ACCENT)
        self._subtitle_style = _style("subtitle", 10.5, alignment=TA_CENTER, textColor=colors.grey)
        self._heading_style = _style("heading", 13, spaceBefore=10, spaceAfter=4, textColor=ACCENT)
        self._body_style = _style("body", 10.5, spaceAfter=4)
        self._cell_style = _style("cell", 9)
        self._head_cell_style = _style("head", 9, textColor=colors.white)
        self._story.append(Paragraph(_escape(self.title), self._title_style))
        if self.subtitle:
            self._story.append(Paragraph(_escape(self.subtitle), self._subtitle_style))
        self._story.append(HRFlowable(width="100%", color=ACCENT, thickness=1, spaceBefore=4, spaceAfter=6))

    def heading(self, text: str) -> None:
        self._story.append(Paragraph(_escape(text), self._heading_style))

    def paragraph(self, text: str) -> None:
        """A paragraph of running text; line breaks in ``text`` are kept."""
        self._story.append(Paragraph(_escape(text).replace("\n", "<br/>"), self._body_style))

    def spacer(self, height_mm: float = 4) -> None:
        self._story.append(Spacer(1, height_mm * mm))

    def key_values(self, pairs: Sequence[tuple[str, str]]) -> None:
        """A two-column block of labels and values (a form read back)."""
        rows = [[self._cell(key), self._cell(value)] for key, value in pairs]
        if not rows:
            return
        table = Table(rows, colWidths=[TEXT_WIDTH * 0.28, TEXT_WIDTH * 0.72])
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (0, -1), SHADE),
                    ("GRID", (0, 0), (-1, -1), 0.5, RULE),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        self._story.append(table)
        self._story.append(Spacer(1, 3 * mm))

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float] | None = None,
        empty: str = "无",
    ) -> None:
        """A table with a header row repeated on each page; cells wrap. ``widths`` are fractions
        of the text width (equal columns without them); ``empty`` is said when there are no rows."""
        if not rows:
            self.paragraph(empty)
            return
        shares = widths or [1 / len(header)] * len(header)
        data = [[Paragraph(_escape(text), self._head_cell_style) for text in header]]
        data += [[self._cell(text) for text in row] for row in rows]
        table = Table(data, colWidths=[TEXT_WIDTH * share for share in shares], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, SHADE]),
                    ("GRID", (0, 0), (-1, -1), 0.5, RULE),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        self._story.append(table)
        self._story.append(Spacer(1, 3 * mm))

    def bar_chart(
        self, title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = ""
    ) -> None:
        """Horizontal bars, one per label, each with its value printed at its end."""
        labels, values = list(labels)[:MAX_BARS], [float(v) for v in list(values)[:MAX_BARS]]
        if not labels:
            return
        bar_height, top = 16, 22
        height = top + bar_height * len(labels) + 12
        drawing = Drawing(TEXT_WIDTH, height)
        drawing.add(String(0, height - 12, title, fontName=_font(), fontSize=10, fillColor=ACCENT))
        chart = HorizontalBarChart()
        chart.x, chart.y = TEXT_WIDTH * 0.32, 6
        chart.width, chart.height = TEXT_WIDTH * 0.58, bar_height * len(labels)
        # reportlab draws the first category at the bottom: reverse so the list reads top down
        chart.data = [list(reversed(values))]
        chart.categoryAxis.categoryNames = [label[:16] for label in reversed(labels)]
        chart.categoryAxis.labels.fontName = _font()
        chart.categoryAxis.labels.fontSize = 8
        chart.categoryAxis.labels.boxAnchor = "e"
        chart.valueAxis.valueMin = 0
        chart.valueAxis.valueMax = max([*values, 0.0]) * 1.15 or 1.0
        chart.valueAxis.visible = False
        chart.bars[0].fillColor = ACCENT
        chart.bars[0].strokeColor = None
        chart.barLabelFormat = "%.1f" + unit.replace("%", "%%")
        chart.barLabels.fontName = _font()
        chart.barLabels.fontSize = 8
        chart.barLabels.boxAnchor = "w"
        chart.barLabels.dx = 3
        drawing.add(chart)
        self._story.append(KeepTogether([drawing, Spacer(1, 3 * mm)]))

    def column_chart(
        self, title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = ""
    ) -> None:
        """Vertical columns in the order given (a trend: months of a year), each with its value
        printed above it."""
        labels, values = list(labels)[:MAX_BARS], [float(v) for v in list(values)[:MAX_BARS]]
        if not labels:
            return
        height = 190
        drawing = Drawing(TEXT_WIDTH, height)
        drawing.add(String(0, height - 12, title, fontName=_font(), fontSize=10, fillColor=ACCENT))
        chart = VerticalBarChart()
        chart.x, chart.y = 10, 24
        chart.width, chart.height = TEXT_WIDTH - 20, height - 60
        chart.data = [values]
        chart.categoryAxis.categoryNames = [label[:8] for label in labels]
        chart.categoryAxis.labels.fontName = _font()
        chart.categoryAxis.labels.fontSize = 8
        chart.categoryAxis.labels.boxAnchor = "n"
        chart.valueAxis.valueMin = 0
        chart.valueAxis.valueMax = max([*values, 0.0]) * 1.15 or 1.0
        chart.valueAxis.visible = False
        chart.bars[0].fillColor = ACCENT
        chart.bars[0].strokeColor = None
        chart.barLabelFormat = "%.1f" + unit.replace("%", "%%")
        chart.barLabels.fontName = _font()
        chart.barLabels.fontSize = 7
        chart.barLabels.boxAnchor = "s"
        chart.barLabels.dy = 2
        drawing.add(chart)
        self._story.append(KeepTogether([drawing, Spacer(1, 3 * mm)]))

    def render(self) -> bytes:
        buffer = io.BytesIO()
        template = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=self.title,
            invariant=True,
        )
        template.build(list(self._story), onFirstPage=self._page_foot, onLaterPages=self._page_foot)
        return buffer.getvalue()

    def _cell(self, text: str) -> Paragraph:
        return Paragraph(_escape(text).replace("\n", "<br/>"), self._cell_style)

    def _page_foot(self, canvas: Canvas, document: object) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 8)
        canvas.setFillColor(colors.grey)
        text = f"第 {canvas.getPageNumber()} 页"
        if self.footer:
            text = f"{self.footer}　{text}"
        canvas.drawCentredString(PAGE_WIDTH / 2, MARGIN / 2, text)
        canvas.restoreState()
