"""The official account's webhook: ``GET`` answers URL verification, ``POST`` receives messages.

Safe (AES), plaintext and, when enabled, compatible mode, with wechatpy doing the XML and the AES
and ``bot.crypto`` adding what it lacks. What WeChat expects and we guarantee:
- Every push is checked before anything else: timestamp within 300 s, signature (constant time),
  and its (timestamp, nonce) not seen before with another body (``bot.crypto.claim_nonce``).
  A refused push gets an empty 403/400/413 — no body WeChat could show, no stack trace.
- With an AES key set (safe mode) only encrypted pushes are accepted: their ``msg_signature``
  covers the encrypted body, so a signed query string seen once (a log, a proxy, the URL check)
  cannot carry another message. Plaintext pushes too only with ``compatible_mode`` (never in
  production).
- A plaintext push (no AES key, or compatible mode) is authenticated by token, timestamp and nonce
  only — not by its body, not by its ``FromUserName``. Its reply never holds a follower's own
  records: it is answered as to an anonymous visitor (search, details, free slots, help), and
  what needs the account (bookings, vouchers, results, rating, binding, booking) gets a pointer
  to the mini-program / H5 pages instead (``PLAINTEXT_PRIVATE``).
- WeChat retries a push it got no answer to within 5 s, three times in all, with the same MsgId
  (events: the same FromUserName + CreateTime). The first delivery claims the message in the
  store; its reply is stored, and every retry gets that same reply — one effect, same answer.
- A reply that is not ready within the budget is answered with "success" (WeChat shows nothing);
  the work carries on and its reply is pushed as a customer-service message via the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
import xmltodict
from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from wechatpy import parse_message
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import ArticlesReply, TextReply

from bot.conversation.base import Incoming, Reply, Turn, link, load_state, save_state
from bot.conversation.router import respond
from bot.conversation.wechat_events import CLICK_MESSAGES
from bot.crypto import Refused, check_signature, check_timestamp, claim_nonce, crypto_for
from bot.dependencies import REPLY_BUDGET
from bot.followers import ensure_follower, principal_for
from bot.models import Follower
from bot.ports import SERVICE_KEY, Ports
from bot.settings import WeChatSettings
from bot.understanding import understand
from yixiang.db import transaction, utcnow
from yixiang.outbox import emit
from yixiang.registry import ServiceRegistry
from yixiang.settings import Settings
from yixiang.store import Store

log = logging.getLogger("bot.webhook")

PATH = "/wechat/official-account"
MAX_BODY_BYTES = 64 * 1024  # WeChat's pushes are a few KB; anything bigger is not WeChat
REPLY_BUDGET_SECONDS = 4.0  # WeChat gives up at 5 s
DEDUP_TTL_SECONDS = 600  # retries come within ~15 s; keep the reply well beyond that
PENDING = b"\x00pending"
SUCCESS = "success"
TEXT_PLAIN = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"

# What shows or changes a follower's own records: never answered to an unauthenticated push.
PRIVATE_INTENTS = frozenset(
    {"bind", "book", "my_bookings", "cancel", "vouchers", "voucher_history", "results", "rate"}
)
PLAINTEXT_PRIVATE = (
    "为保护您的账号信息，公众号当前的消息方式不能查询或办理预约、创新券、检测结果、评价和绑定。"
    "请在仪享小程序或网页中操作。"
)

_background: set[asyncio.Task[Any]] = set()


def _refuse(reason: str, status: int = 403) -> Response[str]:
    log.info("wechat push refused: %s", reason)
    return Response("", status_code=status, media_type=TEXT_PLAIN)


def _check_query(wechat: WeChatSettings, q: Any) -> tuple[str, str]:
    """The push's (timestamp, nonce) once its timestamp and ``signature`` are ours."""
    timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
    check_timestamp(timestamp)
    check_signature(wechat.token, q.get("signature", ""), timestamp, nonce)
    return timestamp, nonce


@get(PATH, include_in_schema=False)
async def verify_url(request: Request[Any, Any, Any]) -> Response[str]:
    """WeChat's server configuration check: echo ``echostr`` when the signature is ours."""
    wechat = WeChatSettings.of(request.app.state.settings)
    q = request.query_params
    if not wechat.token:
        return _refuse("not_configured", 404)
    echostr = q.get("echostr", "")
    try:
        timestamp, nonce = _check_query(wechat, q)
        # Remembered too: this signed query must not then serve as a plaintext push.
        await claim_nonce(request.app.state.store, timestamp, nonce, b"echostr:" + echostr.encode())
    except Refused as exc:
        return _refuse(exc.reason)
    return Response(echostr, media_type=TEXT_PLAIN)


@post(PATH, include_in_schema=False, status_code=200, request_max_body_size=MAX_BODY_BYTES)
async def receive(request: Request[Any, Any, Any]) -> Response[str]:
    wechat = WeChatSettings.of(request.app.state.settings)
    q = request.query_params
    if not wechat.token:
        return _refuse("not_configured", 404)
    try:
        timestamp, nonce = _check_query(wechat, q)
    except Refused as exc:
        return _refuse(exc.reason)
    encrypted = q.get("encrypt_type", "").lower() == "aes"
    if not encrypted and wechat.aes_key and not wechat.compatible_mode:
        # Safe mode: WeChat encrypts every push, so a plaintext one is not WeChat's.
        return _refuse("plaintext_in_safe_mode")
    try:
        body = await request.body()
    except HTTPException:
        return _refuse("too_large", 413)
    try:
        xml = _decrypt(wechat, body, q.get("msg_signature", ""), timestamp, nonce) if encrypted else body
        message = parse_message(xml)
        if message is None:
            raise Refused("empty")
    except Refused as exc:
        return _refuse(exc.reason, 403 if exc.reason == "bad_signature" else 400)
    except Exception as exc:  # expat, missing elements, bad base64/padding: not a WeChat push
        return _refuse(f"malformed ({type(exc).__name__})", 400)
    try:
        await claim_nonce(request.app.state.store, timestamp, nonce, body)
    except Refused as exc:
        return _refuse(exc.reason)

    reply_xml = await answer(request.app.state, message, authenticated=encrypted)
    if not reply_xml:
        return Response(SUCCESS, media_type=TEXT_PLAIN)
    if encrypted:
        crypto = crypto_for(wechat.token, wechat.aes_key, wechat.app_id)
        reply_xml = crypto.encrypt_message(reply_xml, nonce, str(int(time.time())))
    return Response(reply_xml, media_type=XML)


def _decrypt(wechat: WeChatSettings, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> str:
    if not wechat.aes_key:
        raise Refused("aes_not_configured")
    outer = xmltodict.parse(body)["xml"]
    encrypt = outer["Encrypt"]
    check_signature(wechat.token, msg_signature, timestamp, nonce, encrypt)
    crypto = crypto_for(wechat.token, wechat.aes_key, wechat.app_id)
    try:
        return str(crypto.decrypt_message(body, msg_signature, timestamp, nonce))
    except (InvalidSignatureException, InvalidAppIdException) as exc:
        raise Refused(type(exc).__name__) from exc


def dedup_key(message: BaseMessage) -> str:
    if message.type == "event":
        # Events have no MsgId: WeChat documents FromUserName + CreateTime as their identity.
        # The event and its key are added so two menu clicks in one second stay two events.
        event = getattr(message, "event", "")
        return f"evt:{message.source}:{message.time}:{event}:{getattr(message, 'key', '') or ''}"
    return f"msg:{message.id}" if message.id else f"msg:{message.source}:{message.time}"


async def answer(state: Any, message: BaseMessage, *, authenticated: bool = True) -> str:
    """The reply XML for a push (empty: "success"), the same for every retry of one message.

    Plaintext pushes de-duplicate apart from encrypted ones: a forged plaintext push naming a
    MsgId must not decide the reply a genuine encrypted message with that MsgId gets."""
    store: Store = state.store
    key = ("bot:msg:" if authenticated else "bot:msg:plain:") + dedup_key(message)
    budget = state.services.get(REPLY_BUDGET, REPLY_BUDGET_SECONDS)
    if not await store.add(key, PENDING, ttl=DEDUP_TTL_SECONDS):
        return await _stored_reply(store, key, budget)
    late = asyncio.Event()
    task = asyncio.ensure_future(_work(state, message, key, late, authenticated))
    _background.add(task)
    task.add_done_callback(_background.discard)
    done, _ = await asyncio.wait({task}, timeout=budget)
    if task in done:
        return task.result()
    late.set()  # the task pushes its reply by customer-service message when it finishes
    log.warning("reply to %s not ready within %.1fs: it will be pushed", key, budget)
    return ""


async def _stored_reply(store: Store, key: str, budget: float) -> str:
    deadline = time.monotonic() + budget
    while True:
        value = await store.get(key)
        if value is not None and value != PENDING:
            stored: dict[str, str] = msgspec.json.decode(value)
            return stored["xml"]
        if value is None or time.monotonic() >= deadline:
            return ""
        await asyncio.sleep(0.05)


async def _work(state: Any, message: BaseMessage, key: str, late: asyncio.Event, authenticated: bool) -> str:
    try:
        reply = await handle_message(
            settings=state.settings,
            store=state.store,
            session_maker=state.session_maker,
            services=state.services,
            message=message,
            key=key.removeprefix("bot:msg:"),
            authenticated=authenticated,
        )
    except Exception:
        log.exception("bot failed to answer %s", key)
        reply = Reply("系统繁忙，请稍后再试。")
    xml = render(reply, message)
    await state.store.set(key, msgspec.json.encode({"xml": xml}), ttl=DEDUP_TTL_SECONDS)
    if late.is_set() and reply.text:
        async with state.session_maker() as session, transaction(session):
            await emit(
                session,
                "bot.push_reply",
                {"openid": message.source, "text": reply.text},
                key=f"bot.push_reply:{key}",
            )
    return xml


def render(reply: Reply, message: BaseMessage) -> str:
    if reply.article is not None:
        a = reply.article
        r: Any = ArticlesReply(message=message)
        r.add_article({"title": a.title, "description": a.description, "image": a.image, "url": a.url})
        return str(r.render())
    if reply.text:
        return str(TextReply(message=message, content=reply.text).render())
    return ""


def incoming_of(message: BaseMessage, key: str) -> Incoming:
    if message.type == "text":
        return Incoming(message.source, "text", text=str(message.content or ""), key=key)
    if message.type == "event":
        return Incoming(
            message.source,
            "event",
            event=str(getattr(message, "event", "")),
            event_key=str(getattr(message, "key", "") or ""),
            key=key,
        )
    return Incoming(message.source, "other" if message.type != "unknown" else "unknown", key=key)


async def handle_message(
    *,
    settings: Settings,
    store: Store,
    session_maker: async_sessionmaker[AsyncSession],
    services: ServiceRegistry,
    message: BaseMessage,
    key: str,
    authenticated: bool = True,
) -> Reply:
    """The bot's reply to one push. ``authenticated``: the push's body was signed (safe mode);
    otherwise whoever sent it may not be the follower it names (see the module's docstring)."""
    incoming = incoming_of(message, key)
    if incoming.kind == "unknown" or not incoming.openid:
        return Reply()
    if not authenticated and _needs_the_account(incoming):
        log.info("a plaintext push asked for a follower's own records: pointed to the mini-program")
        return Reply(PLAINTEXT_PRIVATE + _h5_hint(settings))
    follower, principal = await _who(session_maker, incoming.openid, key, authenticated)
    # An unauthenticated turn keeps its own flow state: it can neither continue a flow of the
    # follower's encrypted conversation nor leave one behind for it.
    state_owner = incoming.openid if authenticated else "plain:" + incoming.openid
    ports: Ports = services.get(SERVICE_KEY) or Ports()
    turn = Turn(
        incoming=incoming,
        now=utcnow(),
        settings=settings,
        store=store,
        session_maker=session_maker,
        ports=ports,
        follower=follower,
        principal=principal,
        state=await load_state(store, state_owner),
    )
    before = turn.state
    reply = await respond(turn)
    if turn.state != before or turn.state is not None:
        await save_state(store, state_owner, turn.state)  # also renews the TTL of a live flow
    return reply


def _needs_the_account(incoming: Incoming) -> bool:
    """Whether answering this message would show or change the follower's own records."""
    text = incoming.text
    if incoming.kind == "event":
        if incoming.event.lower() != "click":
            return False
        text = CLICK_MESSAGES.get(incoming.event_key) or ""
    return bool(text) and understand(text, utcnow()).intent in PRIVATE_INTENTS


def _h5_hint(settings: Settings) -> str:
    url = link(settings, "")
    return f"\n{url}" if url else ""


async def _who(
    session_maker: async_sessionmaker[AsyncSession], openid: str, key: str, authenticated: bool
) -> tuple[Follower | None, Any]:
    """The follower, and the account behind it — none for an unauthenticated push."""
    async with session_maker() as session:
        follower = await session.get(Follower, openid)
        if follower is None:
            async with transaction(session):
                follower = await ensure_follower(session, openid)
                # First contact: the worker asks WeChat for the unionid (a network call).
                await emit(
                    session, "bot.follower_seen", {"openid": openid}, key=f"bot.follower_seen:{openid}"
                )
        if not authenticated:
            return follower, None
        async with transaction(session):
            principal = await principal_for(session, follower)
        return follower, principal


ROUTES = [verify_url, receive]
