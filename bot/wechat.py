"""The one gateway to the WeChat API.

wechatpy is synchronous and hard-codes ``https://api.weixin.qq.com`` (its token URL, most API
classes and some absolute URLs). :class:`BaseURLWeChatClient` rewrites every one of them onto
``WeChatSettings.of(settings).api_base_url`` so the local fake (tests) and a proxy (production) work.

The access token is cached in the shared store, so every API and worker process uses the same one:
WeChat invalidates the previous token when a new one is fetched, so processes that each fetched
their own would keep knocking each other's tokens out. A token-expired answer (40001/42001/40014)
refreshes once — unless another process already did — and retries once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.exceptions import WeChatClientException, WeChatOAuthException

from bot.settings import WeChatSettings
from yixiang.settings import Settings
from yixiang.store import Store

log = logging.getLogger("bot.wechat")

T = TypeVar("T")
WECHAT_HOST = "https://api.weixin.qq.com"
TOKEN_EXPIRED_CODES = {40001, 40014, 42001}
HTTP_TIMEOUT_SECONDS = 5
# WeChat tokens live 7200 s; refresh a little early so a token never expires in flight.
TOKEN_MARGIN_SECONDS = 300


class WeChatError(Exception):
    """WeChat answered with an error code (or not at all); the worker retries with backoff."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat error {errcode}: {errmsg}")


def _rebase(url: str, base: str) -> str:
    if url.startswith(WECHAT_HOST):
        return base.rstrip("/") + url[len(WECHAT_HOST) :]
    return url


class BaseURLWeChatClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with every URL on our base URL and no silent endless token retries."""

    def __init__(self, appid: str, secret: str, base_url: str, access_token: str | None = None) -> None:
        # auto_retry=False: wechatpy would retry a 40001 forever; the gateway retries exactly once.
        super().__init__(
            appid, secret, access_token=access_token, timeout=HTTP_TIMEOUT_SECONDS, auto_retry=False
        )
        self.base_url = base_url.rstrip("/")
        self.API_BASE_URL = self.base_url + "/cgi-bin/"

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        if not url_or_endpoint.startswith(("http://", "https://")):
            base = kwargs.pop("api_base_url", self.API_BASE_URL)
            url_or_endpoint = base + url_or_endpoint
        return super()._request(method, _rebase(url_or_endpoint, self.base_url), **kwargs)

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=self.base_url + "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class BaseURLWeChatOAuth(WeChatOAuth):  # type: ignore[misc]
    def __init__(self, app_id: str, secret: str, base_url: str, redirect_uri: str = "") -> None:
        super().__init__(app_id, secret, redirect_uri, scope="snsapi_userinfo")
        self.API_BASE_URL = base_url.rstrip("/") + "/"
        self._http.request = _with_timeout(self._http.request)


def _with_timeout(request: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return request(*args, **kwargs)

    return wrapped


class WeChatGateway:
    """Async access to one WeChat app (the official account or the mini-program)."""

    def __init__(self, settings: Settings, store: Store, *, app_id: str, app_secret: str) -> None:
        self.settings = settings
        self.store = store
        self.app_id = app_id
        self.app_secret = app_secret

    @property
    def base_url(self) -> str:
        # Read at call time: settings decide where WeChat is (tests point it at the local fake).
        return WeChatSettings.of(self.settings).api_base_url

    @property
    def _token_key(self) -> str:
        return f"wechat:access-token:{self.app_id}"

    def client(self, access_token: str | None = None) -> BaseURLWeChatClient:
        return BaseURLWeChatClient(self.app_id, self.app_secret, self.base_url, access_token)

    # --- the access token, shared by every process --------------------------------------
    async def access_token(self, *, stale: str | None = None) -> str:
        """The cached token; with ``stale`` (a token WeChat refused), a newer one."""
        cached = await self.store.get(self._token_key)
        if cached and cached.decode() != stale:
            return cached.decode()
        lock = self._token_key + ":refreshing"
        for _ in range(50):
            if await self.store.add(lock, "1", ttl=HTTP_TIMEOUT_SECONDS * 2):
                try:
                    cached = await self.store.get(self._token_key)
                    if cached and cached.decode() != stale:
                        return cached.decode()  # another process refreshed while we waited
                    return await self._fetch_token()
                finally:
                    await self.store.delete(lock)
            await asyncio.sleep(0.1)  # another process is fetching: use its token
            cached = await self.store.get(self._token_key)
            if cached and cached.decode() != stale:
                return cached.decode()
        raise WeChatError(None, "timed out waiting for the access token")

    async def _fetch_token(self) -> str:
        client = self.client()
        try:
            result = await anyio.to_thread.run_sync(client.fetch_access_token)
        except WeChatClientException as exc:
            raise WeChatError(exc.errcode, str(exc.errmsg)) from exc
        except OSError as exc:
            raise WeChatError(None, type(exc).__name__) from exc
        token = str(result["access_token"])
        ttl = max(60, int(result.get("expires_in", 7200)) - TOKEN_MARGIN_SECONDS)
        await self.store.set(self._token_key, token, ttl=ttl)
        log.info("fetched a new WeChat access token for %s", self.app_id)
        return token

    async def call(self, operation: Callable[[BaseURLWeChatClient], T]) -> T:
        """Run a wechatpy call in a thread with the shared token; refresh once on token expiry."""
        token = await self.access_token()
        for attempt in (1, 2):
            client = self.client(token)
            try:
                return await anyio.to_thread.run_sync(operation, client)
            except WeChatClientException as exc:
                if attempt == 1 and exc.errcode in TOKEN_EXPIRED_CODES:
                    log.info("WeChat refused the access token (%s): refreshing once", exc.errcode)
                    token = await self.access_token(stale=token)
                    continue
                raise WeChatError(exc.errcode, str(exc.errmsg)) from exc
            except OSError as exc:  # requests' connection errors are OSErrors
                raise WeChatError(None, type(exc).__name__) from exc
        raise AssertionError("unreachable")

    # --- the API calls the platform uses ---------------------------------------------------
    async def send_text(self, openid: str, text: str) -> Any:
        """A customer-service message (allowed within 48 hours of the user's last message)."""
        return await self.call(lambda c: c.message.send_text(openid, text))

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> Any:
        return await self.call(lambda c: c.message.send_template(openid, template_id, data, url=url))

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> Any:
        return await self.call(lambda c: c.wxa.send_subscribe_message(openid, template_id, data, page=page))

    async def create_menu(self, menu: dict[str, Any]) -> Any:
        return await self.call(lambda c: c.menu.create(menu))

    async def user_info(self, openid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(lambda c: c.user.get(openid))
        return result

    async def code_to_session(self, js_code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(lambda c: c.wxa.code_to_session(js_code))
        return result

    async def phone_number(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            lambda c: c.post(
                "wxa/business/getuserphonenumber", data={"code": code}, api_base_url=c.base_url + "/"
            )
        )
        phone_info: dict[str, Any] = result.get("phone_info") or {}
        return phone_info

    async def oauth_user(self, code: str) -> dict[str, Any]:
        """H5 sign-in: exchange the OAuth code for the user's openid (and unionid when shared)."""
        oauth = BaseURLWeChatOAuth(self.app_id, self.app_secret, self.base_url)
        try:
            result: dict[str, Any] = await anyio.to_thread.run_sync(oauth.fetch_access_token, code)
        except WeChatOAuthException as exc:
            raise WeChatError(exc.errcode, str(exc.errmsg)) from exc
        except (OSError, KeyError, ValueError) as exc:  # no answer, or not the documented one
            raise WeChatError(None, type(exc).__name__) from exc
        return result
