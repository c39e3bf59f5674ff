"""What every console page shares: rendering in the layout, the menu per role, messages after an
action (a flash cookie), and how refusals look on a page (the same errors the API raises).

A page handler is as thin as an API controller: it calls the domain's service and hands the
result to one template. An action is a form POST answered by a redirect (303) to the page it came
from, with the outcome as a message there; a refusal the page could not have prevented (a state
changed meanwhile, a rule of the service) is shown the same way, in the service's own words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from accounts.auth import Principal, current_principal
from accounts.models import STAFF_ROLES, Role
from console.session import CSRF_FIELD, current_session
from vouchers.rules import fen_to_yuan
from yixiang.clock import SHANGHAI
from yixiang.errors import DomainError, InvalidInput, NotFound, Unauthenticated

HERE = Path(__file__).parent
FLASH_COOKIE = "yixiang_console_flash"
DESK_ROLES = (*STAFF_ROLES, Role.bureau_officer, Role.platform_admin)


@dataclass(frozen=True)
class MenuItem:
    label: str
    path: str
    roles: tuple[Role, ...]


# The menu: each page and who may open it — the same roles its guard checks (a page a role may
# not open is not offered to it).
MENU = (
    MenuItem("预约管理", "/console/bookings", STAFF_ROLES),
    MenuItem("送样队列", "/console/samples", STAFF_ROLES),
    MenuItem("仪器管理", "/console/instruments", STAFF_ROLES),
    MenuItem("上机资格", "/console/qualifications", STAFF_ROLES),
    MenuItem("服务评价", "/console/ratings", STAFF_ROLES),
    MenuItem("结算单", "/console/unit-statements", STAFF_ROLES),
    MenuItem("地区概览", "/console/region", (Role.bureau_officer,)),
    MenuItem("统计年报", "/console/yearly-reports", (Role.bureau_officer,)),
    MenuItem("闲置与整改", "/console/oversight", DESK_ROLES),
    MenuItem("创新券项目", "/console/programs", (Role.bureau_officer, Role.platform_admin)),
    MenuItem("申领审核", "/console/applications", (Role.bureau_officer, Role.platform_admin)),
    MenuItem("兑付批次", "/console/settlements", (Role.bureau_officer, Role.platform_admin)),
    MenuItem("共享奖励", "/console/rewards", (Role.bureau_officer, Role.platform_admin)),
    MenuItem(
        "查重评议", "/console/purchase-reviews", (*STAFF_ROLES, Role.bureau_officer, Role.platform_admin)
    ),
    MenuItem("绩效评价", "/console/evaluations", (Role.bureau_officer, Role.platform_admin)),
    MenuItem("本单位评价", "/console/my-evaluation", STAFF_ROLES),
    MenuItem("本单位共享奖励", "/console/unit-rewards", STAFF_ROLES),
    MenuItem("投诉", "/console/complaints", DESK_ROLES),
    MenuItem("微信支付对账", "/console/payment-reconciliations", DESK_ROLES),
    MenuItem("退款", "/console/payment-refunds", DESK_ROLES),
    MenuItem("任务与事件", "/console/outbox", (Role.platform_admin,)),
    MenuItem("用户与角色", "/console/users", (Role.platform_admin,)),
    MenuItem("工作日", "/console/working-days", (Role.platform_admin,)),
    MenuItem("搜索索引", "/console/search-index", (Role.platform_admin,)),
    MenuItem("审计日志", "/console/audit", (Role.platform_admin,)),
)


def menu_for(principal: Principal | None) -> list[MenuItem]:
    if principal is None:
        return []
    return [item for item in MENU if principal.has_role(*item.roles)]


def yuan(fen: int | None) -> str:
    return "—" if fen is None else fen_to_yuan(fen)


def shanghai(moment: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return "—"
    if isinstance(moment, datetime):
        return moment.astimezone(SHANGHAI).strftime(fmt)
    return moment.isoformat()


def _engine_callback(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["yuan"] = yuan
    engine.engine.filters["shanghai"] = shanghai
    engine.engine.globals["CSRF_FIELD"] = CSRF_FIELD


TEMPLATE_CONFIG = TemplateConfig(
    directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_engine_callback
)


def _flash_of(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
        return {"kind": str(found["kind"]), "text": str(found["text"])[:500]}
    except (ValueError, KeyError, TypeError):
        return None


def _flash_cookie(kind: str, text: str) -> Cookie:
    value = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text}).encode()).decode()
    return Cookie(key=FLASH_COOKIE, value=value, path="/console", httponly=True, secure=True, samesite="lax")


def render(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """``template`` in the layout, with who is signed in, their menu, the form token and any message."""
    principal = current_principal(request)
    session = current_session(request.scope)
    flash = _flash_of(request)
    cookies = [Cookie(key=FLASH_COOKIE, value="", path="/console", max_age=0)] if flash else []
    return Template(
        template_name=template,
        context={
            "principal": principal,
            "menu": menu_for(principal),
            "csrf": session.csrf if session else "",
            "flash": flash,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        cookies=cookies,
    )


def back_to(path: str, *, ok: str | None = None, error: str | None = None) -> Redirect:
    cookies = []
    if ok or error:
        cookies.append(_flash_cookie("error" if error else "ok", (error or ok) or ""))
    return Redirect(path=path, status_code=303, cookies=cookies)


Work = Callable[[], Awaitable[str | tuple[str, str]]]


async def outcome(back: str, work: Work) -> tuple[str, str, str]:
    """Run an action: ("ok", its message, the page it names or ``back``), or ("error", the
    service's refusal, ``back``). What the caller may not see stays a 404 (raised)."""
    try:
        done = await work()
    except (NotFound, Unauthenticated):
        raise
    except DomainError as exc:
        return "error", exc.message, back
    message, where = done if isinstance(done, tuple) else (done, back)
    return "ok", message, where


async def act(back: str, work: Work) -> Redirect:
    """Run an action; back to ``back`` with its message (or to the page ``work`` names with it),
    or with the service's refusal.

    What the caller may not see stays a 404 page (another unit's booking learns nothing)."""
    kind, text, where = await outcome(back, work)
    return back_to(where, **{kind: text})


def as_input(body: dict[str, Any], into: type[Any]) -> Any:
    """A form as the API's body Struct, with the API's bounds (msgspec checks them); a 400 else."""
    try:
        return msgspec.convert(body, into)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"输入有误：{exc}") from exc


# --- refusals as pages ------------------------------------------------------------------------------
def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Template:
    titles = {403: "没有权限", 404: "未找到", 400: "请求有误", 409: "操作冲突", 429: "操作过于频繁"}
    return render(
        request, "error.html", status_code=status, title=titles.get(status, "出错了"), message=message
    )


def domain_error_page(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, Unauthenticated):
        target = request.url.path if request.method == "GET" else "/console"
        return Redirect(path="/console/login?next=" + quote(target, safe="/"), status_code=303)
    return _error_page(request, exc.status, exc.message)


def http_error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return _error_page(request, 400, "请求参数有误")
    if isinstance(exc, NotFoundException):
        return _error_page(request, 404, "未找到")
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    return _error_page(request, status, "请求有误")


EXCEPTION_PAGES: dict[Any, Any] = {DomainError: domain_error_page, HTTPException: http_error_page}
