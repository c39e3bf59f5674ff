"""The console's WeChat QR sign-in against the local WeChat fake: offered only where a website
application is configured; a desk user whose WeChat is bound (by unionid) scans and is signed in;
a code brought back without this browser's state, or by an unbound WeChat, signs no one in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from accounts.models import User
from bot.settings import WeChatSettings
from tests.attack.test_authz_matrix import P
from tests.console.desk import console_client
from tests.fakes.wechat import FakeWeChat, Identity

WEB_APP_ID, WEB_APP_SECRET = "wx0a1b2c3d4e5f6a7b", "web-app-secret-for-the-fake"


@pytest.fixture
def qr_wechat(backend) -> Iterator[FakeWeChat]:
    fake = FakeWeChat(apps={WEB_APP_ID: WEB_APP_SECRET})
    fake.start()
    wechat = WeChatSettings.of(backend.settings)
    kept = (wechat.web_app_id, wechat.web_app_secret, wechat.open_base_url, wechat.api_base_url)
    wechat.web_app_id, wechat.web_app_secret = WEB_APP_ID, WEB_APP_SECRET
    wechat.open_base_url = wechat.api_base_url = fake.url
    yield fake
    wechat.web_app_id, wechat.web_app_secret, wechat.open_base_url, wechat.api_base_url = kept
    fake.stop()


async def bind_unionid(backend, username: str, unionid: str | None) -> None:
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(update(User).where(User.username == username).values(wechat_unionid=unionid))


def scan(location: str) -> str:
    """The browser on WeChat's QR page while the phone scans: where WeChat sends it back."""
    with httpx.Client() as browser:
        page = browser.get(location.split("#", 1)[0])
    assert page.status_code == 302, page.text
    return page.headers["location"]


async def test_a_bound_desk_user_scans_and_is_signed_in(backend, qr_wechat):
    unionid = "union-" + uuid.uuid4().hex[:16]
    await bind_unionid(backend, P, unionid)
    try:
        browser = console_client(backend)
        form = await browser.get("/console/login?next=/console/instruments")
        assert 'id="wechat-sign-in"' in form.text and "微信扫码登录" in form.text
        started = await browser.get("/console/login/wechat?next=/console/instruments")
        assert started.status_code == 303
        qr = urlsplit(started.headers["location"])
        asked = parse_qs(qr.query)
        assert qr.path == "/connect/qrconnect" and started.headers["location"].endswith("#wechat_redirect")
        assert asked["appid"] == [WEB_APP_ID] and asked["scope"] == ["snsapi_login"]
        assert asked["redirect_uri"][0].endswith("/console/login/wechat/callback")

        qr_wechat.qr_scans.append(Identity("web-openid-" + uuid.uuid4().hex[:8], unionid))
        back = urlsplit(scan(started.headers["location"]))
        signed = await browser.get(f"{back.path}?{back.query}")
        assert signed.status_code == 303 and signed.headers["location"] == "/console/instruments"
        desk = await browser.get("/console/instruments")
        assert desk.status_code == 200 and "仪器管理" in desk.text
        exchange = qr_wechat.calls_to("/sns/oauth2/access_token")[-1]
        assert exchange.query["appid"] == WEB_APP_ID and exchange.query["grant_type"] == "authorization_code"

        # the same code again (a replayed link) signs no one in: WeChat's codes are single use
        again = console_client(backend)
        await again.get("/console/login/wechat")
        replay = await again.get(f"{back.path}?{back.query}")
        assert replay.status_code in (400, 401) and "yixiang_console=" not in replay.headers.get(
            "set-cookie", ""
        )
    finally:
        await bind_unionid(backend, P, None)


async def test_a_code_without_this_browsers_state_or_from_an_unbound_wechat_is_refused(backend, qr_wechat):
    # another browser's sign-in: the code comes back here without our state
    victim, attacker = console_client(backend), console_client(backend)
    started = await attacker.get("/console/login/wechat")
    qr_wechat.qr_scans.append(Identity("web-openid-x", "union-" + uuid.uuid4().hex[:16]))
    back = urlsplit(scan(started.headers["location"]))
    planted = await victim.get(f"{back.path}?{back.query}")
    assert planted.status_code == 400 and "请重新扫码" in planted.text
    assert (await victim.get("/console")).status_code == 303  # still signed out

    # a WeChat no desk user has bound
    r = await attacker.get(f"{back.path}?{back.query}")
    assert r.status_code == 401 and "尚未绑定" in r.text
    assert (await attacker.get("/console")).status_code == 303


async def test_without_a_website_application_only_the_password_form_is_offered(backend):
    browser = console_client(backend)
    assert "微信扫码登录" not in (await browser.get("/console/login")).text
    assert (await browser.get("/console/login/wechat")).status_code == 404
