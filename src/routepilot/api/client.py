"""A client of routepilot's REST API: the CLI, the reports, the demo and the tests use it.

One request, the JSON back, or an :class:`ApiError` whose message says what went
wrong in one line; each caller decides how to show it.
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API answered an error (``status`` set) or something that is not JSON."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ApiUnreachable(ApiError):
    """No answer: nothing listens there, or it did not answer in time."""


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "111" in text:
        return "connection refused"
    return text.splitlines()[0][:120]


class ApiClient:
    """``base`` is the controller's address (``http://127.0.0.1:8080``); paths are under
    ``/api/v1``."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None} or None
        try:
            r = self._http.request(method, f"/api/v1{path}", params=params, json=body)
        except httpx.TimeoutException:
            raise ApiUnreachable(
                f"the API at {self.base} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ApiUnreachable(
                f"cannot reach the routepilot API at {self.base} ({_reason(exc)})",
                detail=_reason(exc),
            ) from None
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            detail = message or r.text[:200] or r.reason_phrase
            raise ApiError(f"the API answered {r.status_code}: {detail}", r.status_code, detail)
        if data is None:
            raise ApiError(f"the API at {self.base} answered something that is not JSON")
        return data

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params)
