"""Every way an oversight request can be refused, one class each (the shell renders them)."""

from __future__ import annotations

from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound


class SensorNotFound(NotFound):
    code = "sensor_not_found"
    message = "未找到该传感器"


class SensorIdTaken(Conflict):
    code = "sensor_id_taken"
    message = "该传感器编号已登记在用"


class InstrumentHasSensor(Conflict):
    code = "instrument_has_sensor"
    message = "该仪器已绑定一个在用的传感器，请先移除"


class InstrumentRetired(Conflict):
    code = "instrument_retired"
    message = "该仪器已报废，不能绑定传感器"


class SensorRetired(Conflict):
    code = "sensor_retired"
    message = "该传感器已移除"


class NotOverseer(Forbidden):
    code = "not_overseer"
    message = "只有仪器所属单位、所在地区的科技局或平台管理员可以查看"


class InvalidUsage(InvalidInput):
    code = "usage_invalid"
    message = "使用记录有误"


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = "未找到该使用记录"


class IdleCaseNotFound(NotFound):
    code = "idle_case_not_found"
    message = "未找到该闲置记录"


class NotRegionBureau(Forbidden):
    code = "not_region_bureau"
    message = "只有仪器所在地区的科技局可以审核说明"


class ExplanationDecided(Conflict):
    code = "explanation_decided"
    message = "该说明已审核"


class RewardProgrammeNotFound(NotFound):
    code = "reward_programme_not_found"
    message = "未找到该共享奖励方案"


class RewardBatchNotFound(NotFound):
    code = "reward_batch_not_found"
    message = "未找到该奖励批次"


class RewardLineNotFound(NotFound):
    code = "reward_line_not_found"
    message = "该奖励批次中没有这家单位"


class FinanceBureauRequired(Forbidden):
    code = "finance_bureau_required"
    message = "只有本地区财政局经办人可以执行此操作"


class RegionBureauRequired(Forbidden):
    code = "region_bureau_required"
    message = "只有本地区科技局或财政局经办人可以执行此操作"


class RewardProgrammeExists(Conflict):
    code = "reward_programme_exists"
    message = "本地区该年度的共享奖励方案已存在"


class RewardProgrammeLocked(Conflict):
    code = "reward_programme_locked"
    message = "该方案已有奖励批次，不能再修改（作废草稿后可修改）"


class RewardYearOpen(Conflict):
    code = "reward_year_open"
    message = "该年度尚未结束，不能生成奖励批次"


class RewardBatchExists(Conflict):
    code = "reward_batch_exists"
    message = "该方案已有一个未作废的奖励批次"


class NothingToReward(Conflict):
    code = "nothing_to_reward"
    message = "该年度没有可奖励的对外服务记录"


class RewardLedgerMismatch(Conflict):
    code = "reconciliation_mismatch"
    message = "对账不平：奖励批次金额与账本不一致"


# --- purchase review (购置查重评议) -------------------------------------------------------------
class PurchaseReviewNotFound(NotFound):
    code = "purchase_review_not_found"
    message = "未找到该购置查重评议"


class NotFilingUnit(Forbidden):
    code = "not_filing_unit"
    message = "只有管理单位的仪器管理员或单位管理员可以为本单位申报购置"


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    message = "仪器分类代码不存在"


class UnknownRegion(InvalidInput):
    code = "unknown_region"
    message = "地区代码不存在"


class PlaceOutsideUnitRegion(InvalidInput):
    code = "place_outside_unit_region"
    message = "拟购仪器的安装地点须在本单位所在城市"


class PurchaseBlockedByLowUsage(Conflict):
    # seed 004 §(二)/(九): 通用性强的大仪使用率低于30%的，暂停该单位同类大仪的购置
    code = "purchase_blocked_low_usage"
    message = "本单位同类仪器使用率低于30%已被标记，暂停受理该类仪器的购置查重评议，请先提高现有仪器使用率"


class NotReviewer(Forbidden):
    code = "not_reviewer"
    message = "只有所在地区的科技局或其聘任的评议专家可以作出评议决定"


class ReviewNotPending(Conflict):
    code = "purchase_review_not_pending"
    message = "该申报无需评议或已作出评议决定，评议报告与决定已固化，不能更改"


class NotScienceBureau(Forbidden):
    code = "not_science_bureau"
    message = "只有科技局的工作人员可以聘任或解聘本地区的评议专家"


class ExpertNotFound(NotFound):
    code = "review_expert_not_found"
    message = "未找到该评议专家或用户"


class NotIndicatorReader(Forbidden):
    code = "not_indicator_reader"
    message = "只有本地区的科技局、仪器所属单位或平台管理员可以查看绩效指标"


class InvalidPeriod(InvalidInput):
    code = "period_invalid"
    message = "统计期间有误"


class InvalidArchiveMonth(InvalidInput):
    code = "archive_month_invalid"
    message = "月份格式应为 YYYY-MM，例如 2025-01"


class ArchiveMonthNotDue(Conflict):
    code = "archive_month_not_due"
    message = "该月的传感器读数尚未到归档时间，或其日用量汇总仍待重算"


class ReadingArchiveNotFound(NotFound):
    code = "reading_archive_not_found"
    message = "该月的传感器读数未归档"


class ReadingArchiveBusy(Conflict):
    code = "reading_archive_busy"
    message = "该月的传感器读数正在归档或恢复，请稍后再试"


class ReadingArchiveDamaged(Conflict):
    code = "reading_archive_damaged"
    message = "归档文件与记录的校验值或行数不符，未做任何更改"
