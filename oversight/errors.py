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


class NotIndicatorReader(Forbidden):
    code = "not_indicator_reader"
    message = "只有本地区的科技局、仪器所属单位或平台管理员可以查看绩效指标"


class InvalidPeriod(InvalidInput):
    code = "period_invalid"
    message = "统计期间有误"
