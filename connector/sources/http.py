"""The HTTP client every provider source shares.

Timeouts on every call; 429, 5xx and connection failures are `Retriable` (retried by the one retry
policy, honouring `Retry-After`); 401/403 mean the key is wrong or lacks rights; other 4xx mean the
request or the account is wrong. JSON is parsed with `parse_float=Decimal`, so amounts never become
floats. Secrets in headers never reach a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from connector.domain.errors import ConfigError, InputError, RateLimited, ReconnectNeeded, Retriable
from connector.retrying import RetryPolicy, parse_retry_after


@dataclass(frozen=True, slots=True)
class JsonResponse:
    url: str
    params: dict
    status: int
    text: str
    data: Any


class HttpClient:
    """GETs JSON from one provider API, with auth headers, timeouts and retries."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        headers: dict[str, str],
        timeout: float,  # float ok: seconds
        retry: RetryPolicy,
        credential_hint: str,
        session: requests.Session | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.credential_hint = credential_hint  # e.g. "TOKENBOOKS_OPENAI__ADMIN_KEY"
        self.session = session or requests.Session()
        self.session.headers.update(headers)
        self.session.headers.setdefault("User-Agent", "tokenbooks/0.1 (+https://github.com/tokenbooks)")

    def get_json(self, path: str, params: dict[str, Any], *, accept: tuple[int, ...] = ()) -> JsonResponse:
        """GET one page. A status in `accept` (a 404 for an endpoint older accounts lack, a 400 for a
        group-by an older API refuses) is an answer with that status and no data, not an error."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        return self.retry.call(lambda: self._get_once(url, params, accept))

    def _get_once(self, url: str, params: dict[str, Any], accept: tuple[int, ...] = ()) -> JsonResponse:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise Retriable(f"{self.name}: {url} did not answer within {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise Retriable(
                f"{self.name}: cannot reach {url} ({type(exc).__name__})",
                fix=f"check the network and the base URL setting for {self.name}",
            ) from None
        if response.status_code in accept:
            return JsonResponse(url, params, response.status_code, response.text, None)
        self._raise_for_status(url, response)
        try:
            data = json.loads(response.text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{self.name}: {url} answered with a body that is not JSON ({exc.msg} at character {exc.pos})",
                fix="retry later; if it persists the provider's API has changed",
            ) from None
        return JsonResponse(url, params, response.status_code, response.text, data)

    def _raise_for_status(self, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_detail(response)
        if status == 429:
            raise RateLimited(
                f"{self.name}: {url} is throttling requests (429){detail}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise Retriable(
                f"{self.name}: {url} failed with HTTP {status}{detail}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise ReconnectNeeded(
                f"{self.name}: {url} refused the credentials (HTTP {status}){detail}",
                fix=f"check {self.credential_hint}: it must be an organization admin key with access to "
                "usage and cost reports",
            )
        if status == 404:
            raise ConfigError(
                f"{self.name}: {url} does not exist (HTTP 404){detail}", fix="check the base URL"
            )
        raise InputError(f"{self.name}: {url} rejected the request (HTTP {status}){detail}")


def _error_detail(response: requests.Response) -> str:
    """A short, secret-free excerpt of an error body."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return f": {text[:200]}" if text else ""
    message = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(message, dict):
        message = message.get("message") or message.get("type") or message
    return f": {str(message)[:200]}"
