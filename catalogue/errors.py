"""Every way a catalogue change can be refused, one class each (the shell renders them)."""

from __future__ import annotations

from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound


class InstrumentNotFound(NotFound):
    """Also booking's: an instrument that does not exist or that the caller may not see."""

    code = "instrument_not_found"
    message = "未找到该仪器"


class NotUnitStaff(Forbidden):
    code = "not_unit_staff"
    message = "只有该仪器所属单位的仪器管理员可以操作"


class NotUnitAdmin(Forbidden):
    code = "not_unit_admin"
    message = "只有所属单位的单位管理员可以审核发布"


class InvalidPublicationTransition(Conflict):
    code = "invalid_publication_transition"
    message = "仪器当前的发布状态不允许此操作"


class AssetNumberTaken(Conflict):
    code = "asset_number_taken"
    message = "本单位已有相同资产编号的仪器"


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    message = "仪器分类代码不存在"


class UnknownRegion(InvalidInput):
    code = "unknown_region"
    message = "行政区划代码不存在"


class InvalidInstrument(InvalidInput):
    code = "invalid_instrument"
    message = "仪器信息有误"


class ImportRejected(InvalidInput):
    code = "import_rejected"
    message = "导入文件有错误，未导入任何数据"


class UnreadableImportFile(InvalidInput):
    code = "unreadable_import_file"
    message = "无法读取导入文件，请使用 CSV（UTF-8）或 XLSX 模板"


class UnknownUnit(InvalidInput):
    code = "unknown_unit"
    message = "管理单位不存在"
