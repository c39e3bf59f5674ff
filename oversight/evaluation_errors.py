"""Every way an evaluation or complaint request can be refused, one class each."""

from __future__ import annotations

from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound


class EvaluationNotFound(NotFound):
    code = "evaluation_not_found"
    message = "未找到该绩效评价"


class EvaluationExists(Conflict):
    code = "evaluation_exists"
    message = "该地区该年度的绩效评价已开启"


class NoParticipants(Conflict):
    code = "evaluation_no_participants"
    message = "该地区该年度没有入网仪器的管理单位，无法开展评价"


class ScienceBureauRequired(Forbidden):
    code = "science_bureau_required"
    message = "只有该地区科技局的工作人员可以办理"


class EvaluationFrozen(Conflict):
    code = "evaluation_frozen"
    message = "绩效评价已公布，结果不能再更改"


class InvalidEvaluationTransition(Conflict):
    code = "evaluation_invalid_transition"
    message = "绩效评价当前状态不允许此操作"


class AdjustmentPending(Conflict):
    code = "evaluation_adjustment_pending"
    message = "还有待审核的分数调整，请先审核"


class ObjectionPending(Conflict):
    code = "evaluation_objection_pending"
    message = "还有未答复的异议，请先答复"


class AdjustmentNotFound(NotFound):
    code = "adjustment_not_found"
    message = "未找到该分数调整"


class AdjustmentDecided(Conflict):
    code = "adjustment_decided"
    message = "该分数调整已审核"


class SameOfficerAdjustment(Forbidden):
    code = "adjustment_same_officer"
    message = "提出调整的工作人员不能审核自己的调整，请由另一位工作人员审核"


class InvalidYear(InvalidInput):
    code = "evaluation_year_invalid"
    message = "评价年度有误（只能评价已结束的年度）"


class ResultNotFound(NotFound):
    code = "evaluation_result_not_found"
    message = "未找到该单位的评价结果"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"
    message = "未找到该异议"


class ObjectionAnswered(Conflict):
    code = "objection_answered"
    message = "该异议已答复"


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"
    message = "未找到该投诉"


class ComplaintSubjectInvalid(InvalidInput):
    code = "complaint_subject_invalid"
    message = "请指明投诉的预约（本人或本企业的）或服务单位"


class InvalidComplaintTransition(Conflict):
    code = "complaint_invalid_transition"
    message = "投诉当前状态不允许此操作"
