"""One error per voucher failure a user can meet (rendered by the shell)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable


class ProgramNotFound(NotFound):
    code = "program_not_found"
    message = "未找到该创新券批次"


class GrantNotFound(NotFound):
    code = "grant_not_found"
    message = "未找到该创新券"


class StatementNotFound(NotFound):
    code = "statement_not_found"
    message = "未找到该预约的结算单"


class SettlementNotFound(NotFound):
    code = "settlement_not_found"
    message = "未找到该兑付批次"


class NotFirmMember(Forbidden):
    code = "not_firm_member"
    message = "只能查看本企业的创新券"


class BureauRequired(Forbidden):
    code = "bureau_officer_required"
    message = "只有发券地区的科技或财政部门经办人可以执行此操作"


class ProviderRequired(Forbidden):
    code = "provider_staff_required"
    message = "只有服务单位的仪器管理员可以执行此操作"


class InvalidProgram(InvalidInput):
    code = "invalid_program"
    message = "创新券批次设置有误"


class ZeroAdjustment(InvalidInput):
    code = "zero_adjustment"
    message = "调整金额不能为 0：正数从批次预算调入该券，负数从该券退回预算"


class BudgetExceeded(Conflict):
    code = "budget_exceeded"
    message = "批次剩余预算不足"


class FirmNotEligible(InvalidInput):
    code = "firm_not_eligible"
    message = "该企业不符合本批次的申领条件"


class ProgramClosed(Conflict):
    code = "program_closed"
    message = "该创新券批次已结束"


class InsufficientVoucherBalance(Conflict):
    code = "insufficient_voucher_balance"
    message = "创新券余额不足"


class GrantImportRejected(InvalidInput):
    code = "grant_import_rejected"
    message = "导入文件有误，未导入任何一行；请按行修改后重新上传"


class NotCaptured(Conflict):
    code = "checkout_not_captured"
    message = "该预约尚未完成结算，不能执行此操作"


class RefundTooLarge(Conflict):
    code = "refund_too_large"
    message = "退券金额超过已抵扣的创新券金额"


class AlreadyInSettlement(Conflict):
    code = "already_in_settlement"
    message = "该笔已列入兑付批次，金额不能再变更"


class NothingDue(Conflict):
    code = "nothing_due"
    message = "该预约无需企业另行支付"


class PaymentAlreadyReceived(Conflict):
    code = "payment_already_received"
    message = "该预约的付款已确认，不能再次确认"

    @classmethod
    def naming(cls, reference: str, paid_fen: int) -> PaymentAlreadyReceived:
        first = f"流水号 {reference}" if reference else "未填写流水号"
        return cls(
            f"该预约的付款已于此前确认（{first}），不能以其他流水号再次确认；如确有重复付款，请线下退还",
            payment_reference=reference,
            paid_fen=paid_fen,
        )


class InvalidSettlementTransition(Conflict):
    code = "invalid_transition"
    message = "兑付批次当前状态不允许此操作"


class SameOfficerApproval(Forbidden):
    code = "four_eyes_required"
    message = "提交人不能审核自己提交的兑付批次"


class EmptySettlement(Conflict):
    code = "empty_settlement"
    message = "该期间没有可兑付的创新券"


@dataclass(frozen=True)
class DraftHolding:
    draft_id: uuid.UUID
    period_start: date
    period_end: date
    bookings: int
    total_fen: int


class DraftHoldsBookings(Conflict):
    code = "draft_holds_bookings"
    message = "该期间可兑付的预约已在草稿兑付批次中"

    @classmethod
    def naming(cls, drafts: list[DraftHolding]) -> DraftHoldsBookings:
        d = drafts[0]
        return cls(
            f"该期间可兑付的 {d.bookings} 笔预约已在草稿兑付批次（{d.period_start} 至 {d.period_end}，"
            f"编号 {d.draft_id}）中；请提交该草稿，或将其作废后重新生成",
            draft_id=str(d.draft_id),
            drafts=[
                {
                    "draft_id": str(x.draft_id),
                    "period_start": str(x.period_start),
                    "period_end": str(x.period_end),
                    "bookings": x.bookings,
                    "total_fen": x.total_fen,
                }
                for x in drafts
            ],
        )


class ReconciliationMismatch(Conflict):
    code = "reconciliation_mismatch"
    message = "对账不平：批次金额与账本不一致"


class ApplicationNotFound(NotFound):
    code = "application_not_found"
    message = "未找到该创新券申领"


class FirmAdminRequired(Forbidden):
    code = "firm_admin_required"
    message = "只有企业管理员可以为本企业申领创新券"


class ApplicationOpen(Conflict):
    code = "application_open"
    message = "本企业在该批次已有一份待审核或待修改的申领，请在原申领上修改"


class ApplicationStateInvalid(Conflict):
    code = "application_state_invalid"
    message = "该申领当前的状态不允许此操作"


class AttachmentInvalid(InvalidInput):
    code = "attachment_invalid"
    message = "附件不符合要求"


class ApplicationInvalid(InvalidInput):
    code = "application_invalid"
    message = "申领内容有误"


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"
    message = "该预约尚未申请发票"


class InvoiceRequesterRequired(Forbidden):
    code = "invoice_requester_required"
    message = "只有预约的研究人员或企业管理员可以申请发票"


class InvoiceNotPaid(Conflict):
    code = "invoice_not_paid"
    message = "该预约尚未付款，服务单位确认收款后才能申请发票"


class NothingToInvoice(Conflict):
    code = "nothing_to_invoice"
    message = "该预约没有企业付款（费用由创新券全额抵扣或未产生费用），无需开具发票"


class InvoiceAlreadyRequested(Conflict):
    code = "invoice_already_requested"
    message = "该预约已申请过发票（抬头或税号不同），请等待服务单位处理"


class InvoiceAlreadyIssued(Conflict):
    code = "invoice_already_issued"
    message = "该预约的发票已开具，不能重复申请或开具"


class InvoiceStateInvalid(Conflict):
    code = "invoice_state_invalid"
    message = "发票申请当前状态不允许此操作"


class WeChatPayOff(Conflict):
    code = "wechat_pay_unavailable"
    message = "该服务单位尚未开通微信支付，请按账单以对公转账方式支付"


class WeChatNotLinked(Conflict):
    code = "wechat_not_linked"
    message = "请先在微信小程序中登录仪享后再用微信支付，或在电脑上扫码支付"


class PaymentOrderPending(Conflict):
    code = "payment_order_pending"
    message = "支付单正在生成，请稍后再试"


class PaymentOrderNotFound(NotFound):
    code = "payment_order_not_found"
    message = "支付单不存在"


class PaymentUnavailable(ServiceUnavailable):
    code = "wechat_pay_unreachable"
    message = "微信支付暂时无法连接，请稍后再试"


class RefundExceedsPaid(Conflict):
    code = "refund_exceeds_paid"
    message = "退款金额超过可退金额（已付款减去已退款和退款中的金额）"


class NotPaidByWeChat(Conflict):
    code = "not_paid_by_wechat"
    message = "该预约没有通过微信支付的付款，无法原路退款"


class FeeRaiseRefused(Conflict):
    code = "fee_raise_refused"
    message = "服务完成后不能调高费用；如需补收，请与企业另行协商"


class FeeUnchanged(Conflict):
    code = "fee_unchanged"
    message = "更正后的费用与当前费用相同，无需更正"


class BillUnavailable(ServiceUnavailable):
    code = "bill_unavailable"
    message = "微信支付对账单暂时无法获取，或其校验未通过；请稍后重试"


class ReconciliationNotFound(NotFound):
    code = "reconciliation_not_found"
    message = "未找到该日的微信支付对账结果"


class FinanceRequired(Forbidden):
    code = "finance_officer_required"
    message = "只有财政部门经办人或平台管理员可以执行此操作"
