"""The phone pages inside WeChat's browser sign in through WeChat's web authorisation (the bot's
H5 sign-in): the page sends the browser to WeChat, WeChat comes back with a code, and the bound
follower's user is signed in to the console's session. Outside WeChat: the password form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.bot.chat import Chat, bind_openid, new_openid
from tests.console.desk import console_client
from tests.fakes.wechat import Identity

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"


async def test_inside_wechat_a_bound_follower_is_signed_in_by_wechat(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher-2")
    phone = console_client(chat.backend)
    phone.headers["user-agent"] = WECHAT_UA
    asked = await phone.get("/console/m/bookings")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/console/login")
    to_wechat = await phone.get(asked.headers["location"])
    assert to_wechat.status_code == 303, to_wechat.text
    target = urlsplit(to_wechat.headers["location"])
    assert (target.netloc, target.path) == ("open.weixin.qq.com", "/connect/oauth2/authorize")
    query = parse_qs(target.query)
    assert query["scope"] == ["snsapi_base"] and target.fragment == "wechat_redirect"
    assert urlsplit(query["redirect_uri"][0]).path == "/console/m/oauth"
    state = query["state"][0]

    # WeChat sends the browser back with a code; a state not this browser's is refused (a page)
    chat.fake.oauth_codes["phone-ok"] = Identity(openid)
    forged = await phone.get("/console/m/oauth", params={"code": "phone-ok", "state": "forged-state"})
    assert forged.status_code == 401 and "微信登录未成功" in forged.text
    back = await phone.get(
        "/console/m/oauth", params={"code": "phone-ok", "state": state, "next": "/console/m/bookings"}
    )
    assert back.status_code == 303 and back.headers["location"] == "/console/m/bookings", back.text
    mine = await phone.get("/console/m/bookings")
    assert mine.status_code == 200 and "我的预约" in mine.text


async def test_a_follower_bound_to_nobody_gets_a_page_not_a_loop(chat: Chat) -> None:
    phone = console_client(chat.backend)
    phone.headers["user-agent"] = WECHAT_UA
    to_wechat = await phone.get("/console/login", params={"next": "/console/m"})
    state = parse_qs(urlsplit(to_wechat.headers["location"]).query)["state"][0]
    chat.fake.oauth_codes["phone-stranger"] = Identity(new_openid())
    back = await phone.get("/console/m/oauth", params={"code": "phone-stranger", "state": state})
    assert back.status_code == 401 and "尚未绑定仪享账号" in back.text


async def test_outside_wechat_the_phone_pages_sign_in_with_a_password(chat: Chat) -> None:
    phone = console_client(chat.backend)
    form = await phone.get("/console/login", params={"next": "/console/m"})
    assert form.status_code == 200 and 'name="password"' in form.text
