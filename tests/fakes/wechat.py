"""A local fake of the WeChat API: real HTTP on loopback, in a thread, recording every call.

It speaks the documented request and answer shapes of the endpoints the platform uses: the
access token, customer-service, template and subscribe messages, the menu, user info,
jscode2session, the phone-number API, web OAuth and the website application's QR sign-in
(``/connect/qrconnect``, served on open.weixin.qq.com: a person "scans" by being queued in
``qr_scans``, and the page sends the browser back with a code and the state). Access tokens are
checked like WeChat does (40001 for an unknown one); ``expire_tokens()`` makes the current tokens
invalid, as WeChat does when a token is refreshed elsewhere or expires.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    errcode: int = 0  # what the fake answered (0: success)


@dataclass
class Identity:
    openid: str
    unionid: str | None = None
    phone: str | None = None


@dataclass
class FakeWeChat:
    apps: dict[str, str] = field(default_factory=dict)  # appid -> secret
    calls: list[Call] = field(default_factory=list)
    # js_code (mini-program wx.login) / OAuth code -> who signed in
    login_codes: dict[str, Identity] = field(default_factory=dict)
    oauth_codes: dict[str, Identity] = field(default_factory=dict)
    # who scans the next QR code shown by /connect/qrconnect (and confirms on the phone)
    qr_scans: list[Identity] = field(default_factory=list)
    phone_codes: dict[str, str] = field(default_factory=dict)
    # official-account openid -> unionid (user/info)
    unionids: dict[str, str] = field(default_factory=dict)
    # answer the next N authenticated calls with this errcode (e.g. 45015: out of the 48-hour window)
    fail_next: list[int] = field(default_factory=list)
    # answer the next messages to this openid with these errcodes
    fail_touser: dict[str, list[int]] = field(default_factory=dict)
    # path -> seconds to wait before answering a call (it is recorded, i.e. WeChat has it, at once)
    answer_delay: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tokens: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._scopes: dict[str, str] = {}  # code -> the scope it was issued for

    # --- control -----------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw.decode()) if raw else None
                status, answer = fake.handle(method, parts.path, query, body)
                if "location" in answer:  # a page that sends the browser on
                    self.send_response(302)
                    self.send_header("location", answer["location"])
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if "html" in answer:
                    data = answer["html"].encode()
                    self.send_response(status)
                    self.send_header("content-type", "text/html; charset=utf-8")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def calls_to(self, path: str, *, failed: bool = False, **match: str) -> list[Call]:
        """Successful calls to ``path`` (or failed ones) whose JSON body has the given values."""
        return [
            c
            for c in list(self.calls)
            if c.path == path
            and bool(c.errcode) == failed
            and all((c.body or {}).get(k) == v for k, v in match.items())
        ]

    # --- the API -------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        call = Call(method, path, query, body)
        with self._lock:
            self.calls.append(call)
        status, answer = self._answer(method, path, query, body)
        call.errcode = int(answer.get("errcode", 0))
        if self.answer_delay.get(path):
            time.sleep(self.answer_delay[path])
        return status, answer

    def _answer(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        if path == "/cgi-bin/token":
            if self.apps.get(query.get("appid", "")) != query.get("secret") or not query.get("secret"):
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = f"FAKE-TOKEN-{next(self._counter)}"
            with self._lock:
                self._tokens.add(token)
            return 200, {"access_token": token, "expires_in": 7200}
        if path == "/connect/qrconnect":
            return 200, self._qrconnect(query)
        if path in ("/sns/oauth2/access_token", "/sns/jscode2session"):
            return 200, self._code_exchange(path, query)
        if path == "/sns/userinfo":
            return 200, {"openid": query.get("openid"), "nickname": "微信用户"}
        # Everything else needs a valid access token.
        if query.get("access_token") not in self._tokens:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        with self._lock:
            if self.fail_next:
                return 200, {"errcode": self.fail_next.pop(0), "errmsg": "fake failure"}
            failures = self.fail_touser.get(str((body or {}).get("touser")))
            if failures:
                return 200, {"errcode": failures.pop(0), "errmsg": "fake failure"}
        return 200, self._authenticated(path, query, body or {})

    def _qrconnect(self, query: dict[str, str]) -> dict[str, Any]:
        """The website application's QR page: WeChat shows 参数错误 for an unknown app, a scope
        other than snsapi_login or no redirect_uri; after a scan it sends the browser to the
        redirect_uri with ``code`` and the ``state`` it was given (only when the scan is confirmed)."""
        redirect_uri = query.get("redirect_uri", "")
        if (
            query.get("appid", "") not in self.apps
            or query.get("scope") != "snsapi_login"
            or query.get("response_type") != "code"
            or not redirect_uri.startswith(("http://", "https://"))
        ):
            return {"html": "<html><body><h4>参数错误</h4></body></html>"}
        with self._lock:
            if not self.qr_scans:
                return {"html": "<html><body><p>请使用微信扫描二维码登录</p></body></html>"}
            who = self.qr_scans.pop(0)
            code = f"qr-{next(self._counter)}"
            self.oauth_codes[code] = who
            self._scopes[code] = "snsapi_login"
        joiner = "&" if "?" in redirect_uri else "?"
        return {
            "location": f"{redirect_uri}{joiner}{urlencode({'code': code, 'state': query.get('state', '')})}"
        }

    def _code_exchange(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if self.apps.get(query.get("appid", "")) != query.get("secret"):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        codes = self.oauth_codes if path == "/sns/oauth2/access_token" else self.login_codes
        code = query.get("code") or query.get("js_code") or ""
        with self._lock:
            who = codes.pop(code, None)  # codes are single use, as WeChat's are
        if who is None:
            return {"errcode": 40029, "errmsg": "invalid code"}
        answer: dict[str, Any] = {"openid": who.openid}
        if path == "/sns/jscode2session":
            answer["session_key"] = "fake-session-key=="
        else:
            with self._lock:
                scope = self._scopes.pop(code, "snsapi_userinfo")
            answer |= {
                "access_token": "oauth-token",
                "refresh_token": "oauth-refresh-token",
                "expires_in": 7200,
                "scope": scope,
            }
        if who.unionid:
            answer["unionid"] = who.unionid
        return answer

    def _authenticated(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        ok = {"errcode": 0, "errmsg": "ok"}
        if path == "/cgi-bin/message/template/send":
            if not body.get("touser") or not body.get("template_id"):
                return {"errcode": 40003, "errmsg": "invalid openid"}
            return ok | {"msgid": next(self._counter)}
        if path in (
            "/cgi-bin/message/custom/send",
            "/cgi-bin/message/subscribe/send",
            "/cgi-bin/menu/create",
        ):
            return ok
        if path == "/cgi-bin/user/info":
            openid = query.get("openid", "")
            info: dict[str, Any] = {"subscribe": 1, "openid": openid}
            if openid in self.unionids:
                info["unionid"] = self.unionids[openid]
            return info
        if path == "/wxa/business/getuserphonenumber":
            phone = self.phone_codes.pop(str(body.get("code")), None)
            if phone is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            return ok | {
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": 0, "appid": "fake"},
                }
            }
        return {"errcode": 40066, "errmsg": f"invalid url {path}"}
