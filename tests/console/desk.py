"""Signing in to the console as a person does: the form, its token, the password; a client per
person (its own cookies). Over https: the session cookie is Secure, so a client sends it only there."""

from __future__ import annotations

import re
from typing import Any

import httpx

from accounts.demo import DEMO_PASSWORD

TOKEN = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, f"no form token on {page.url}"
    return found.group(1)


def console_client(backend: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=backend.app), base_url="https://testserver", timeout=60
    )


async def signed_in(backend: Any, username: str, password: str = DEMO_PASSWORD) -> httpx.AsyncClient:
    client = console_client(backend)
    form = await client.get("/console/login")
    r = await client.post(
        "/console/login", data={"_csrf": csrf_of(form), "username": username, "password": password}
    )
    assert r.status_code == 303, r.text
    return client


async def post_form(client: httpx.AsyncClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Post ``action``'s form as the page ``page`` offers it (with the page's token)."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    return await client.post(action, data={"_csrf": csrf_of(shown), **fields})


async def finished_job(client: httpx.AsyncClient, location: str, *, seconds: float = 60) -> httpx.Response:
    """A long job's page (where its start redirected) once the job is no longer running."""
    import asyncio

    assert location.startswith("/console/jobs/"), location
    for _ in range(int(seconds / 0.1)):
        page = await client.get(location)
        assert page.status_code == 200, page.text
        if 'data-status="running"' not in page.text:
            return page
        await asyncio.sleep(0.1)
    raise AssertionError(f"{location} still running after {seconds} s")
