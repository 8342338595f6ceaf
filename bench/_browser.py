"""A tiny browser for the HTTP benchmark's sanity checks: cookies by hand, because production
cookies are Secure and the servers here speak plain http."""

from __future__ import annotations

import re

import _wrk

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    def __init__(self, base: str):
        import requests

        self.base = base
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs):
        head = {"User-Agent": _wrk.USER_AGENT, "Accept-Encoding": _wrk.ACCEPT_ENCODING}
        head.update(headers or {})
        if self.cookies:
            head["Cookie"] = self.cookie_header()
        response = self.http.request(
            method, self.base + path, headers=head, allow_redirects=False, timeout=30, **kwargs
        )
        for cookie in response.cookies:
            if cookie.value:
                self.cookies[cookie.name] = cookie.value
            else:
                self.cookies.pop(cookie.name, None)
        self.http.cookies.clear()
        return response

    def csrf(self, path: str) -> str:
        response = self.request("GET", path)
        match = CSRF_RE.search(response.text)
        if response.status_code != 200 or not match:
            raise RuntimeError(f"GET {path}: {response.status_code}, no CSRF token")
        return match.group(1)
