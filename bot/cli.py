"""Command line: ``yixiang wechat menu push``, ``yixiang bot chat --as <user>`` and ``yixiang bot outbox``."""

from __future__ import annotations

import secrets
import sys
import time
from typing import Any

import click

from bot.settings import WeChatSettings


@click.group("wechat")
def wechat() -> None:
    """The WeChat official account."""


@wechat.group("menu")
def menu() -> None:
    """The official account's custom menu."""


@menu.command("push")
def menu_push() -> None:
    """Publish the menu (YIXIANG_WECHAT_MENU, or the built-in one) to WeChat."""
    from bot.dependencies import OFFICIAL_ACCOUNT
    from bot.menu import MenuInvalid, menu_of
    from bot.wechat import WeChatError
    from yixiang.cli import run_with_runtime

    async def work(runtime: Any) -> bool:
        try:
            menu = menu_of(runtime.settings)
            await runtime.services[OFFICIAL_ACCOUNT].create_menu(menu)
        except (MenuInvalid, WeChatError) as exc:
            click.echo(f"menu not published: {exc}", err=True)
            return False
        click.echo(f"menu published: {len(menu['button'])} top-level buttons")
        return True

    if not run_with_runtime(work, migrate=False):
        sys.exit(1)


@click.group("bot")
def bot() -> None:
    """The official-account bot."""


@bot.command("chat")
@click.option("--as", "username", required=True, help="Platform account to chat as, e.g. demo-researcher.")
@click.option("--url", default=None, help="Server base URL (default http://YIXIANG_HOST:YIXIANG_PORT).")
@click.option("--password", default=None, help="Sign in with a password instead of the dev sign-in.")
@click.option("--openid", default=None, help="The WeChat openid to send as (default: derived from --as).")
def chat(username: str, url: str | None, password: str | None, openid: str | None) -> None:
    """Talk to the bot of a running server with real signed (and, in safe mode, encrypted) messages."""
    from yixiang.cli import _settings

    settings = _settings()
    wechat = WeChatSettings.of(settings)
    client = ChatClient(
        url or f"http://{settings.host}:{settings.port}",
        token=wechat.token,
        aes_key=wechat.aes_key,
        app_id=wechat.app_id,
        openid=openid or f"chat-{username}"[:64],
    )
    try:
        code = client.bind_code(username, password)
    except ChatError as exc:
        click.echo(f"cannot sign in as {username}: {exc}", err=True)
        sys.exit(1)
    click.echo(client.send(f"绑定 {code}"))
    click.echo("（输入消息，回车发送；Ctrl-D 退出）")
    for line in sys.stdin:
        text = line.strip()
        if text:
            click.echo(client.send(text) or "（无回复）")


@bot.command("outbox")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many.")
def outbox(limit: int) -> None:
    """The notifications kept in the local outbox instead of sent to WeChat, newest first."""
    from bot.local_outbox import latest_messages, outbox_active
    from yixiang.cli import run_with_runtime

    async def work(runtime: Any) -> None:
        if not outbox_active(runtime.settings):
            click.echo("WeChat is configured: notifications go to WeChat, not to the local outbox.")
        async with runtime.session_maker() as session:
            messages = await latest_messages(session, limit)
        if not messages:
            click.echo("（本地通知箱是空的）")
        for message in messages:
            when = f"{message.at:%Y-%m-%d %H:%M:%S}"
            click.echo(f"{when}  {message.recipient}  {message.channel} {message.topic}")
            for line in message.text.splitlines():
                click.echo(f"    {line}")
            if message.link:
                click.echo(f"    {message.link}")

    run_with_runtime(work, migrate=False)


class ChatError(Exception):
    pass


class ChatClient:
    """Posts messages exactly as WeChat does: query signature, timestamp, nonce; AES in safe mode."""

    def __init__(self, base_url: str, *, token: str, aes_key: str, app_id: str, openid: str) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.token, self.aes_key, self.app_id, self.openid = token, aes_key, app_id, openid
        self.http = requests.Session()
        self._msgid = int(time.time() * 1000)

    def bind_code(self, username: str, password: str | None) -> str:
        if password is None:
            response = self.http.post(f"{self.base_url}/api/v1/auth/dev-login", json={"username": username})
        else:
            response = self.http.post(
                f"{self.base_url}/api/v1/auth/login", json={"username": username, "password": password}
            )
        if response.status_code != 200:
            raise ChatError(response.json().get("error", {}).get("message", response.text))
        token = response.json()["token"]
        response = self.http.post(
            f"{self.base_url}/api/v1/auth/wechat/bind-code", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code != 200:
            raise ChatError(response.text)
        return str(response.json()["code"])

    def send(self, text: str) -> str:
        from bot.crypto import sign

        self._msgid += 1
        now = str(int(time.time()))
        nonce = secrets.token_hex(8)
        xml = (
            f"<xml><ToUserName><![CDATA[gh_yixiang]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
            f"<MsgId>{self._msgid}</MsgId></xml>"
        )
        params = {
            "signature": sign(self.token, now, nonce),
            "timestamp": now,
            "nonce": nonce,
            "openid": self.openid,
        }
        body = xml
        if self.aes_key:
            from wechatpy.crypto import WeChatCrypto

            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            body = crypto.encrypt_message(xml, nonce, now)
            import xmltodict

            params |= {"encrypt_type": "aes", "msg_signature": xmltodict.parse(body)["xml"]["MsgSignature"]}
        response = self.http.post(
            f"{self.base_url}/wechat/official-account", params=params, data=body.encode()
        )
        if response.status_code != 200:
            return f"（服务器拒绝：HTTP {response.status_code}）"
        reply = response.text
        if reply == "success" or not reply:
            return ""
        import xmltodict

        if self.aes_key:
            from wechatpy.crypto import WeChatCrypto

            outer = xmltodict.parse(reply)["xml"]
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            reply = crypto.decrypt_message(reply, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        inner = xmltodict.parse(reply)["xml"]
        if inner.get("MsgType") == "news":
            item = inner["Articles"]["item"]
            return f"{item.get('Description', '')}\n[{item.get('Title', '')}] {item.get('Url', '')}"
        return str(inner.get("Content", ""))


COMMANDS = [wechat, bot]
