"""WeChat sign-in: mini-program code2session, phone numbers (encrypted), bind codes, H5 OAuth."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import User
from bot.models import Follower, UserPhone
from bot.signin import decrypt_phone
from tests.bot.chat import Chat, bind_openid, follower_user, new_openid
from tests.fakes.wechat import Identity
from tests.support import Login, error_code


async def test_mini_program_sign_in_creates_the_user_once(chat: Chat) -> None:
    client, openid = chat.backend.client, "mp-" + uuid.uuid4().hex[:20]
    chat.fake.login_codes["code-first"] = Identity(openid)
    first = await client.post("/api/v1/auth/wechat/mini-program", json={"code": "code-first"})
    assert first.status_code == 200, first.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert me.status_code == 200 and me.json()["display_name"] == "微信用户"

    chat.fake.login_codes["code-second"] = Identity(openid)
    second = await client.post("/api/v1/auth/wechat/mini-program", json={"code": "code-second"})
    again = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {second.json()['token']}"})
    assert again.json()["id"] == me.json()["id"]  # the same user, not a second one

    # Codes are single use, and made-up codes are refused.
    reused = await client.post("/api/v1/auth/wechat/mini-program", json={"code": "code-second"})
    assert reused.status_code == 401 and error_code(reused) == "wechat_code_invalid"
    assert (
        error_code(await client.post("/api/v1/auth/wechat/mini-program", json={"code": ""}))
        == "validation_error"
    )


async def test_phone_number_is_stored_encrypted_and_never_logged(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    client, openid, phone = chat.backend.client, "mp-" + uuid.uuid4().hex[:20], "13812345678"
    chat.fake.login_codes["code-phone"] = Identity(openid)
    chat.fake.phone_codes["phone-code-1"] = phone
    with caplog.at_level(logging.DEBUG):
        response = await client.post(
            "/api/v1/auth/wechat/mini-program", json={"code": "code-phone", "phone_code": "phone-code-1"}
        )
    assert response.status_code == 200, response.text
    assert phone not in caplog.text
    async with chat.backend.runtime.session_maker() as session:
        user_id = await session.scalar(select(User.id).where(User.wechat_openid == openid))
        row = await session.get(UserPhone, user_id)
    assert row is not None and row.phone_masked == "138****5678"
    assert (
        phone not in row.phone_encrypted
        and decrypt_phone(chat.backend.settings, row.phone_encrypted) == phone
    )

    # Later, a signed-in user can update it; a bad code is a 400, not a 500.
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    chat.fake.phone_codes["phone-code-2"] = "13900001111"
    updated = await client.post(
        "/api/v1/auth/wechat/phone-number", json={"code": "phone-code-2"}, headers=headers
    )
    assert updated.json() == {"masked": "139****1111"}
    bad = await client.post("/api/v1/auth/wechat/phone-number", json={"code": "nope"}, headers=headers)
    assert bad.status_code == 400 and error_code(bad) == "phone_code_invalid"


async def test_bind_code_links_the_follower_once(chat: Chat, login: Login) -> None:
    client = chat.backend.client
    assert (await client.post("/api/v1/auth/wechat/bind-code")).status_code == 401
    headers = await login("demo-provider")
    code = (await client.post("/api/v1/auth/wechat/bind-code", headers=headers)).json()
    assert len(code["code"]) == 6 and code["code"].isdigit() and code["expires_in"] == 600
    openid, intruder = new_openid(), new_openid()
    sender = chat.sender()
    assert "绑定成功" in (await sender.text(openid, f"绑定 {code['code']}")).content
    assert await follower_user(chat, openid) == demo_id("demo-provider")
    assert "无效" in (await sender.text(intruder, f"绑定 {code['code']}")).content
    assert await follower_user(chat, intruder) is None


async def test_guessing_bind_codes_is_limited(chat: Chat) -> None:
    sender, openid = chat.sender(), new_openid()
    replies = [await sender.text(openid, f"绑定 {n:06d}") for n in range(6)]
    assert all("无效" in r.content for r in replies[:5]) and "次数过多" in replies[5].content


async def test_mini_program_unionid_binds_the_follower(chat: Chat) -> None:
    follower_openid, unionid = new_openid(), "union-" + uuid.uuid4().hex[:12]
    chat.fake.unionids[follower_openid] = unionid
    await chat.sender().event(follower_openid, "subscribe")
    await chat.drain()  # the worker learns the follower's unionid
    assert await follower_user(chat, follower_openid) is None
    chat.fake.login_codes["code-union"] = Identity("mp-" + uuid.uuid4().hex[:20], unionid=unionid)
    response = await chat.backend.client.post("/api/v1/auth/wechat/mini-program", json={"code": "code-union"})
    assert response.status_code == 200
    async with chat.backend.runtime.session_maker() as session:
        user_id = await session.scalar(select(User.id).where(User.wechat_unionid == unionid))
        follower = await session.get(Follower, follower_openid)
    assert follower is not None and follower.user_id == user_id and follower.bound_by == "unionid"


async def test_h5_oauth_signs_in_a_bound_follower_only(chat: Chat) -> None:
    client = chat.backend.client
    openid = await bind_openid(chat, "demo-researcher-2")
    chat.fake.oauth_codes["oauth-ok"] = Identity(openid)
    ok = await client.get("/api/v1/auth/wechat/oauth/callback", params={"code": "oauth-ok"})
    assert ok.status_code == 200, ok.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {ok.json()['token']}"})
    assert me.json()["id"] == str(demo_id("demo-researcher-2"))

    chat.fake.oauth_codes["oauth-stranger"] = Identity(new_openid())
    stranger = await client.get("/api/v1/auth/wechat/oauth/callback", params={"code": "oauth-stranger"})
    assert stranger.status_code == 401 and error_code(stranger) == "wechat_not_bound"
    bad = await client.get("/api/v1/auth/wechat/oauth/callback", params={"code": "made-up"})
    assert bad.status_code == 401 and error_code(bad) == "wechat_code_invalid"
