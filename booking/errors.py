"""Every way a booking can be refused, one class each (the shell renders them)."""

from __future__ import annotations

from datetime import datetime

from yixiang.clock import SHANGHAI
from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound


class BookingNotFound(NotFound):
    code = "booking_not_found"
    message = "未找到该预约"


class InvalidBookingNumber(InvalidInput):
    code = "invalid_booking_number"
    message = "预约号格式有误，应为 YX 加 8 位日期、短横线和 6 位字母数字，如 YX20261202-0A7F3C"


class SlotTaken(Conflict):
    code = "slot_taken"
    message = "该时段已被预约，请选择其他时段"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "预约当前状态不允许此操作"


class InstrumentUnavailable(Conflict):
    code = "instrument_unavailable"
    message = "该仪器当前不接受预约"


class CancellationDeadlinePassed(Conflict):
    code = "cancellation_deadline_passed"
    message = "已过取消截止时间，请联系仪器管理员"


class NoShowTooEarly(Conflict):
    code = "no_show_too_early"
    message = "预约开始前不能标记为未到场"


class CheckInTooEarly(Conflict):
    code = "check_in_too_early"
    message = "预约开始前 30 分钟起才能签到"


class CheckInTooLate(Conflict):
    code = "check_in_too_late"
    message = "预约时段已结束，不能再签到；用户未到场请标记未到场"


class QualificationRequired(Forbidden):
    code = "qualification_required"
    message = "自主上机需要该仪器的有效培训资格"


class NotProviderStaff(Forbidden):
    code = "not_provider_staff"
    message = "只有该仪器所属单位的管理人员可以执行此操作"


class NotBooker(Forbidden):
    code = "not_booker"
    message = "只有预约企业的成员可以执行此操作"


class NoEnterprise(Forbidden):
    code = "enterprise_required"
    message = "请以企业（或单位）研究人员身份预约"


# --- rules about the request itself (400, one code per rule) ----------------------------------
class BookingRuleViolated(InvalidInput):
    code = "booking_rule_violated"
    rule = ""


def _rule(name: str, code: str, message: str) -> type[BookingRuleViolated]:
    cls = type(name, (BookingRuleViolated,), {"code": code, "message": message, "rule": code})
    return cls


TimezoneRequired = _rule(
    "TimezoneRequired", "timezone_required", "时间须带时区，例如 2026-12-01T09:00:00+08:00"
)
InvalidRange = _rule("InvalidRange", "invalid_range", "结束时间须晚于开始时间")
StartInPast = _rule("StartInPast", "start_in_past", "不能预约过去的时间")
NoticeTooShort = _rule("NoticeTooShort", "notice_too_short", "预约时间距现在太近")
TooFarAhead = _rule("TooFarAhead", "too_far_ahead", "超出可提前预约的天数")
TooShort = _rule("TooShort", "duration_too_short", "预约时长短于最短时长")
TooLong = _rule("TooLong", "duration_too_long", "预约时长超过最长时长")
OffSlotGrid = _rule("OffSlotGrid", "off_slot_grid", "开始和结束时间须对齐到预约时间粒度")
OutsideOpeningHours = _rule("OutsideOpeningHours", "outside_opening_hours", "所选时段不在开放时间内")
InstrumentClosed = _rule("InstrumentClosed", "instrument_closed", "所选时段仪器停用（维护或节假日）")
ModeNotOffered = _rule("ModeNotOffered", "mode_not_offered", "该仪器不提供此服务方式")
ServiceItemInvalid = _rule("ServiceItemInvalid", "service_item_invalid", "请选择该仪器此服务方式下的检测项目")
FieldsForMode = _rule("FieldsForMode", "fields_for_mode", "所填字段与服务方式不符")
RangeTooWide = _rule("RangeTooWide", "range_too_wide", "查询范围过大")


class UsageInvalid(InvalidInput):
    """Recorded use that cannot be: ``details.rule`` names the rule (see ``rules.check_actual_use``)."""

    code = "usage_invalid"
    message = "实际使用时间或样品数有误"


class SensedUseOverridden(InvalidInput):
    """The provider typed other actual times than the sensor recorded, without saying why."""

    code = "sensed_use_overridden"
    message = "传感器记录了本次使用时间；改填其他时间须说明原因（reason）"

    def __init__(self, start: datetime, end: datetime) -> None:
        span = f"{start.astimezone(SHANGHAI):%m-%d %H:%M}–{end.astimezone(SHANGHAI):%H:%M}"
        super().__init__(
            f"传感器记录的使用时间为 {span}；改填其他时间须说明原因（reason）",
            field="reason",
            sensed_start=start.isoformat(),
            sensed_end=end.isoformat(),
        )


class TooManyOpenRequests(Conflict):
    code = "too_many_open_requests"
    message = "贵单位在该仪器上待审批的预约过多，请等待审批后再提交"
