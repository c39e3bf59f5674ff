"""Every way a yearly-report request can be refused (the shell renders them)."""

from __future__ import annotations

from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound


class ReportNotPublished(NotFound):
    code = "report_not_published"
    message = "该地区该年度的统计年报尚未发布"


class ReportAlreadyPublished(Conflict):
    code = "report_already_published"
    message = "该年度统计年报已发布，发布后不再更改"


class ReportYearNotOver(InvalidInput):
    code = "report_year_not_over"
    message = "年度结束后才能发布该年度的统计年报"


class NotRegionScienceBureau(Forbidden):
    code = "not_region_science_bureau"
    message = "只有本地区的科技局可以发布统计年报"


class NotRegionBureauOfReport(Forbidden):
    code = "not_region_bureau"
    message = "只有本地区的科技局、财政局可以预览统计年报草稿"


class UnknownReportTable(NotFound):
    code = "report_table_not_found"
    message = "没有这张统计表"
