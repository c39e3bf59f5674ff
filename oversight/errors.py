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


class NotIndicatorReader(Forbidden):
    code = "not_indicator_reader"
    message = "只有本地区的科技局、仪器所属单位或平台管理员可以查看绩效指标"


class InvalidPeriod(InvalidInput):
    code = "period_invalid"
    message = "统计期间有误"
