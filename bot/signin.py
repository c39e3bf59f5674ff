"""Signing in with WeChat: mini-program (code2session), web pages (OAuth), bind codes, phone numbers."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from typing import Annotated, Any

import msgspec
from cryptography.fernet import Fernet
from litestar import Controller, Request, get, post
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, TokenIssuer, TokenPair, requires_user
from accounts.models import User
from bot.dependencies import WeChatGatewayDependency
from bot.followers import BIND_CODE_TTL_SECONDS, bind_by_unionid, issue_bind_code
from bot.models import Follower, UserPhone
from bot.wechat import WeChatError, WeChatGateway
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput, ServiceUnavailable, Unauthenticated
from yixiang.schemas import Input, Output
from yixiang.settings import Settings

log = logging.getLogger("bot.signin")

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class WeChatCodeInvalid(Unauthenticated):
    code = "wechat_code_invalid"
    message = "微信登录凭证无效或已使用，请重新登录"


class WeChatNotBound(Unauthenticated):
    code = "wechat_not_bound"
    message = "该微信尚未绑定仪享账号，请先用账号登录后在公众号发送绑定码"


class WeChatUnavailable(ServiceUnavailable):
    code = "wechat_unavailable"
    message = "微信服务暂时不可用，请稍后再试"


class PhoneCodeInvalid(InvalidInput):
    code = "phone_code_invalid"
    message = "手机号授权无效或已过期，请重新授权"


class MiniProgramLogin(Input):
    code: Code
    phone_code: Code | None = None  # from <button open-type="getPhoneNumber">, optional


class PhoneNumberRequest(Input):
    code: Code


class BindCode(Output):
    code: str
    expires_in: int


class PhoneNumber(Output):
    masked: str


# --- phone numbers: personal information, encrypted at rest ---------------------------------
def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(b"yixiang:phone-numbers:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def encrypt_phone(settings: Settings, phone: str) -> str:
    return _fernet(settings).encrypt(phone.encode()).decode()


def decrypt_phone(settings: Settings, token: str) -> str:
    return _fernet(settings).decrypt(token.encode()).decode()


async def store_phone(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, info: dict[str, Any]
) -> str:
    phone = str(info.get("purePhoneNumber") or info.get("phoneNumber") or "")
    if not phone:
        raise PhoneCodeInvalid()
    row = await session.get(UserPhone, user_id)
    if row is None:
        row = UserPhone(user_id=user_id, phone_encrypted="", phone_masked="")
        session.add(row)
    row.phone_encrypted = encrypt_phone(settings, phone)
    row.phone_masked = mask_phone(phone)
    row.country_code = str(info.get("countryCode") or "86")
    row.updated_at = utcnow()
    log.info("phone number %s stored for user %s", row.phone_masked, user_id)
    return row.phone_masked


# --- users from WeChat identities --------------------------------------------------------
async def user_for_miniprogram(session: AsyncSession, openid: str, unionid: str | None) -> User:
    """The user with this mini-program openid (or unionid); created on the first sign-in."""
    for _ in range(2):
        clauses = [User.wechat_openid == openid]
        if unionid:
            clauses.append(User.wechat_unionid == unionid)
        user = await session.scalar(select(User).where(or_(*clauses)))
        if user is not None:
            if user.wechat_openid is None:
                user.wechat_openid = openid
            if unionid and user.wechat_unionid is None:
                user.wechat_unionid = unionid
            return user
        digest = hashlib.sha256(openid.encode()).hexdigest()[:16]
        try:
            async with session.begin_nested():
                user = User(
                    username=f"wx_{digest}",
                    display_name="微信用户",
                    wechat_openid=openid,
                    wechat_unionid=unionid,
                )
                session.add(user)
            log.info("new user %s from a mini-program sign-in", user.id)
            return user
        except IntegrityError:
            continue  # a concurrent first sign-in created it: read it
    raise WeChatUnavailable()


async def exchange_code(gateway: WeChatGateway, call: str, code: str) -> dict[str, Any]:
    try:
        if call == "code_to_session":
            return await gateway.code_to_session(code)
        return await gateway.oauth_user(code)
    except WeChatError as exc:
        if exc.errcode in (40029, 40163, 40226, 41008):  # invalid / used / blocked / missing code
            raise WeChatCodeInvalid() from exc
        log.warning("WeChat %s failed: %s", call, exc)
        raise WeChatUnavailable() from exc


async def oauth_identity(official_account: WeChatGateway, code: str) -> tuple[str, str | None]:
    """Web (H5) sign-in: the follower's openid (and unionid) that WeChat's OAuth ``code`` names."""
    result = await exchange_code(official_account, "oauth", code)
    unionid = result.get("unionid")
    return str(result.get("openid") or ""), str(unionid) if unionid else None


async def user_for_follower(session: AsyncSession, openid: str, unionid: str | None) -> User:
    """The active user bound to the follower (inside the caller's transaction); else refused."""
    if unionid:
        await bind_by_unionid(session, openid, unionid)
    follower = await session.get(Follower, openid) if openid else None
    user = await session.get(User, follower.user_id) if follower and follower.user_id else None
    if user is None or not user.is_active:
        raise WeChatNotBound()
    return user


class WeChatAuthController(Controller):
    path = "/api/v1/auth/wechat"
    tags = ["auth"]

    @post("/mini-program", status_code=200, summary="Sign in from the mini-program with wx.login()'s code")
    async def mini_program(
        self,
        data: MiniProgramLogin,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        miniprogram: WeChatGatewayDependency,
    ) -> TokenPair:
        session_info = await exchange_code(miniprogram, "code_to_session", data.code)
        openid = str(session_info.get("openid") or "")
        if not openid:
            raise WeChatCodeInvalid()
        unionid = session_info.get("unionid")
        phone_info = None
        if data.phone_code:
            try:
                phone_info = await miniprogram.phone_number(data.phone_code)
            except WeChatError as exc:
                raise PhoneCodeInvalid() from exc
        issuer: TokenIssuer = request.app.state.token_issuer
        async with transaction(db_session):
            user = await user_for_miniprogram(db_session, openid, str(unionid) if unionid else None)
            if not user.is_active:
                raise Unauthenticated("账号已停用", reason="inactive")
            await db_session.flush()
            if unionid:
                # The official-account follower with the same unionid is this user.
                followers = await db_session.scalars(
                    select(Follower.openid).where(Follower.unionid == unionid, Follower.user_id.is_(None))
                )
                for follower_openid in followers.all():
                    await bind_by_unionid(db_session, follower_openid, str(unionid))
            if phone_info is not None:
                await store_phone(db_session, request.app.state.settings, user.id, phone_info)
            return await issuer.issue(db_session, user)

    @post(
        "/phone-number",
        status_code=200,
        guards=[requires_user],
        summary="Store the user's phone number (mini-program authorisation code)",
    )
    async def phone_number(
        self,
        data: PhoneNumberRequest,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        miniprogram: WeChatGatewayDependency,
    ) -> PhoneNumber:
        try:
            info = await miniprogram.phone_number(data.code)
        except WeChatError as exc:
            if exc.errcode is None:
                raise WeChatUnavailable() from exc
            raise PhoneCodeInvalid() from exc
        async with transaction(db_session):
            masked = await store_phone(db_session, request.app.state.settings, principal.user_id, info)
        return PhoneNumber(masked=masked)

    @post(
        "/bind-code",
        status_code=200,
        guards=[requires_user],
        summary="A one-time code to send to the official account: 绑定 123456",
    )
    async def bind_code(self, principal: Principal, request: Request[Any, Any, Any]) -> BindCode:
        code = await issue_bind_code(request.app.state.store, principal.user_id)
        return BindCode(code=code, expires_in=BIND_CODE_TTL_SECONDS)

    @get("/oauth/callback", summary="Web (H5) sign-in: WeChat OAuth redirects here with ?code=")
    async def oauth_callback(
        self,
        code: Annotated[str, msgspec.Meta(min_length=1, max_length=256)],
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        official_account: WeChatGatewayDependency,
    ) -> TokenPair:
        openid, unionid = await oauth_identity(official_account, code)
        issuer: TokenIssuer = request.app.state.token_issuer
        async with transaction(db_session):
            user = await user_for_follower(db_session, openid, unionid)
            return await issuer.issue(db_session, user)


ROUTES = [WeChatAuthController]
