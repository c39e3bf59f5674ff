"""帮助: what the bot understands, with examples."""

from __future__ import annotations

from bot.conversation.base import Reply, Turn

HELP_TEXT = """仪享 · 大型科研仪器共享
直接发送文字即可：
· 找仪器：「找核磁」「明天下午的XRD」「杭州 便宜的液相」，列表回复「更多」继续
· 看详情：搜索后回复序号
· 查空闲：「XRD 明天有空吗」，现在能不能用：「XRD 现在能用吗」
· 预约：「预约 XRD 明天下午」
· 我的预约：「我的预约」，取消发送「取消预约」
· 创新券：「券还剩多少」「券记录」
· 检测结果：「结果」
· 评价：收到评价邀请后回复 1-5
· 绑定账号：「绑定 123456」
· 人工客服：「人工」「客服」「投诉」
任何时候发送「取消」或「算了」退出当前操作。"""


async def handle(turn: Turn, rest: str) -> Reply:
    return Reply(HELP_TEXT)
