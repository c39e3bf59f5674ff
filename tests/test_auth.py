"""Sign-in, token lifetimes and revocation, and the role and ownership guards."""

from __future__ import annotations

import asyncio
import time

from accounts.auth import TokenIssuer
from accounts.demo import DEMO_PASSWORD, demo_id
from accounts.settings import AccountsSettings
from tests.support import error_code


async def test_password_sign_in_and_wrong_password(client):
    ok = await client.post(
        "/api/v1/auth/login", json={"username": "demo-provider", "password": DEMO_PASSWORD}
    )
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"
    bad = await client.post("/api/v1/auth/login", json={"username": "demo-provider", "password": "guess"})
    assert bad.status_code == 401
    assert error_code(bad) == "unauthenticated"
    assert bad.json()["error"]["message"] == "用户名或密码错误"


async def test_no_token_bad_token_and_expired_token_are_401(client, backend):
    assert (await client.get("/api/v1/me")).status_code == 401
    garbage = await client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert garbage.status_code == 401
    assert garbage.json()["error"]["details"]["reason"] == "token_invalid"
    forged = TokenIssuer("another-secret-that-is-long-enough-to-sign", 15, 1).encode(
        {"sub": str(demo_id("demo-admin")), "typ": "access", "ver": 0, "exp": 4102444800}
    )
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    issuer: TokenIssuer = backend.app.state.token_issuer
    expired = issuer.encode({"sub": str(demo_id("demo-admin")), "typ": "access", "ver": 0, "exp": 1000})
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "token_expired"


async def test_a_token_that_worked_is_refused_once_it_expires(client, backend, login):
    issuer: TokenIssuer = backend.app.state.token_issuer
    signed_in = (await login("demo-admin"))["Authorization"].removeprefix("Bearer ")
    claims = issuer.decode(signed_in, "access") | {"exp": int(time.time()) + 1}
    headers = {"Authorization": f"Bearer {issuer.encode(claims)}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    await asyncio.sleep(max(0.0, claims["exp"] - time.time()) + 0.05)
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "token_expired"


async def test_refresh_rotates_and_a_used_refresh_token_is_refused(client):
    first = (await client.post("/api/v1/auth/dev-login", json={"username": "demo-firm-admin"})).json()
    second = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {second.json()['token']}"})
    ).is_success
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    access_as_refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["token"]})
    assert access_as_refresh.status_code == 401


async def test_logout_revokes_every_token_of_the_user(client, backend):
    username = "demo-science-bureau"
    one = (await client.post("/api/v1/auth/dev-login", json={"username": username})).json()
    two = (await client.post("/api/v1/auth/dev-login", json={"username": username})).json()
    out = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {one['token']}"})
    assert out.status_code == 204
    for pair in (one, two):
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['token']}"})
        assert me.status_code == 401
        refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refresh.status_code == 401
    fresh = (await client.post("/api/v1/auth/dev-login", json={"username": username})).json()
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh['token']}"})).is_success


async def test_dev_login_is_refused_when_dev_sign_in_is_off(client, backend):
    accounts = AccountsSettings.of(backend.app.state.settings)
    accounts.dev_login = False
    try:
        response = await client.post("/api/v1/auth/dev-login", json={"username": "demo-admin"})
        assert response.status_code == 404
    finally:
        accounts.dev_login = True


async def test_a_firm_sees_its_own_organisation_and_not_another(client, login):
    researcher = await login("demo-researcher")
    own = await client.get(f"/api/v1/organizations/{demo_id('firm-qinghe')}", headers=researcher)
    assert own.status_code == 200
    assert own.json()["name"] == "杭州青禾生物科技有限公司"
    other = await client.get(f"/api/v1/organizations/{demo_id('firm-lanwan')}", headers=researcher)
    assert other.status_code == 404
    assert error_code(other) == "not_found"


async def test_only_the_firm_admin_manages_members(client, login):
    firm = demo_id("firm-qinghe")
    researcher = await login("demo-researcher")
    refused = await client.get(f"/api/v1/organizations/{firm}/members", headers=researcher)
    assert refused.status_code == 403
    assert error_code(refused) == "forbidden"
    outsider = await login("demo-researcher-2")
    assert (await client.get(f"/api/v1/organizations/{firm}/members", headers=outsider)).status_code == 404
    provider = await login("demo-provider")
    assert (await client.get(f"/api/v1/organizations/{firm}/members", headers=provider)).status_code == 404

    admin = await login("demo-firm-admin")
    members = await client.get(f"/api/v1/organizations/{firm}/members", headers=admin)
    assert members.status_code == 200
    assert {m["username"] for m in members.json()} >= {"demo-researcher", "demo-firm-admin"}


async def test_firm_admin_adds_and_removes_a_researcher(client, login):
    firm = demo_id("firm-qinghe")
    admin = await login("demo-firm-admin")
    body = {"username": "demo-researcher-2", "role": "researcher"}
    added = await client.post(f"/api/v1/organizations/{firm}/members", json=body, headers=admin)
    assert added.status_code == 201, added.text
    again = await client.post(f"/api/v1/organizations/{firm}/members", json=body, headers=admin)
    assert again.status_code == 409
    assert error_code(again) == "already_member"
    newcomer = await login("demo-researcher-2")
    assert (await client.get(f"/api/v1/organizations/{firm}", headers=newcomer)).status_code == 200
    wrong_role = await client.post(
        f"/api/v1/organizations/{firm}/members",
        json={"username": "demo-admin", "role": "bureau_officer"},
        headers=admin,
    )
    assert wrong_role.status_code == 400
    assert error_code(wrong_role) == "role_not_allowed"
    removed = await client.delete(
        f"/api/v1/organizations/{firm}/members/{demo_id('demo-researcher-2')}", headers=admin
    )
    assert removed.status_code == 204
    # removal takes effect on the next request, without waiting for the token to expire
    assert (await client.get(f"/api/v1/organizations/{firm}", headers=newcomer)).status_code == 404


async def test_mass_assignment_is_refused(client, login):
    admin = await login("demo-firm-admin")
    response = await client.post(
        f"/api/v1/organizations/{demo_id('firm-qinghe')}/members",
        json={"username": "demo-researcher-2", "role": "researcher", "is_platform_admin": True},
        headers=admin,
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"][0]["field"] == "is_platform_admin"
