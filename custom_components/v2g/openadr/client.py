"""A thin asynchronous OpenADR 3 client for a VEN: token, programs, events, reports.

OpenADR 3.0.1 REST shapes: `POST <token URL>` (OAuth2 client credentials, form-encoded
`grant_type=client_credentials&client_id=..&client_secret=..`, answer `access_token`,
`token_type` "Bearer", `expires_in`), `GET /programs` and `GET /events` (`targetType` and
`targetValues` select the VEN's objects; `skip` and `limit` page through up to 50 at a time),
`POST /reports`. The token URL is the VTN's `/auth/token` unless the VTN names another (its
OAuth server's). Without a client id the VTN is asked without a token (a public tariff VTN).

The session is given (Home Assistant's shared one), every request has a timeout, and every failure
(network, HTTP status, a body that is not the JSON the specification describes) raises
`VtnError` with a short text that never contains the credentials or the token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import logging
from typing import Any

import aiohttp

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)
PAGE_SIZE = 50
"""The most objects one request returns (the specification's `limit` maximum)."""
MAX_PAGES = 20
TOKEN_MARGIN = timedelta(seconds=60)
"""A token is renewed this long before it expires."""
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)


class VtnError(Exception):
    """The VTN cannot be reached, refused the VEN, or answered something unreadable."""


class VtnAuthError(VtnError):
    """The VTN's token endpoint refused the client id and secret."""


@dataclass(frozen=True, slots=True)
class VtnCredentials:
    """How to reach the VTN and prove who the VEN is."""

    base_url: str
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    """None: the VTN's own `/auth/token`."""

    @property
    def token_endpoint(self) -> str:
        """Where client credentials are traded for a token."""
        return self.token_url or f"{self.base_url.rstrip('/')}/auth/token"


class VtnClient:
    """The VEN's side of the REST API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: VtnCredentials,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self.credentials = credentials
        self._clock = clock
        self._token: str | None = None
        self._token_expires: datetime = datetime.min.replace(tzinfo=UTC)

    @property
    def base_url(self) -> str:
        """The VTN's base URL, without a trailing slash."""
        return self.credentials.base_url.rstrip("/")

    async def async_programs(self, target: tuple[str, str] | None = None) -> list[Any]:
        """Every program the VTN shows this VEN (raw JSON objects)."""
        return await self._async_list("programs", _target_query(target))

    async def async_events(self, target: tuple[str, str] | None = None) -> list[Any]:
        """Every event the VTN shows this VEN (raw JSON objects)."""
        return await self._async_list("events", _target_query(target))

    async def async_create_report(self, report: Mapping[str, Any]) -> Any:
        """POST a report; returns what the VTN created (409, a duplicate, counts as done)."""
        return await self._async_request("POST", "reports", body=report, conflict_ok=True)

    # --- plumbing ------------------------------------------------------------------------

    async def _async_list(self, path: str, query: dict[str, str]) -> list[Any]:
        """GET a collection, page by page."""
        items: list[Any] = []
        for page in range(MAX_PAGES):
            params = {**query, "skip": str(page * PAGE_SIZE), "limit": str(PAGE_SIZE)}
            answer = await self._async_request("GET", path, params=params)
            if not isinstance(answer, list):
                raise VtnError(f"GET /{path} did not answer a list")
            items += answer
            if len(answer) < PAGE_SIZE:
                break
        return items

    async def _async_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        conflict_ok: bool = False,
    ) -> Any:
        """One request with the bearer token; a refused token is renewed once."""
        for attempt in range(2):
            headers = {"Accept": "application/json"}
            if (token := await self._async_token(renew=attempt > 0)) is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                async with self._session.request(
                    method,
                    f"{self.base_url}/{path}",
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT,
                ) as response:
                    if response.status in (401, 403):
                        if attempt == 0 and token is not None:
                            continue  # the VTN forgot the token: once more with a fresh one
                        raise VtnAuthError(
                            f"{method} /{path}: HTTP {response.status}, the VEN is not let in"
                        )
                    if conflict_ok and response.status == 409:
                        return None
                    if response.status >= 400:
                        raise VtnError(f"{method} /{path}: HTTP {response.status}")
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError) as err:
                raise VtnError(f"{method} /{path}: {type(err).__name__} {err}".strip()) from err
            return _json(text, f"{method} /{path}")
        raise AssertionError(
            "unreachable: the second attempt returns or raises"
        )  # pragma: no cover

    async def _async_token(self, *, renew: bool) -> str | None:
        """A valid access token (None without a client id)."""
        creds = self.credentials
        if not creds.client_id:
            return None
        now = self._clock()
        if self._token is not None and not renew and now < self._token_expires - TOKEN_MARGIN:
            return self._token
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
        }
        try:
            async with self._session.post(
                creds.token_endpoint, data=form, timeout=REQUEST_TIMEOUT
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise VtnError(f"token: {type(err).__name__} {err}".strip()) from err
        if status in (400, 401, 403):
            raise VtnAuthError(f"token: HTTP {status} {_oauth_error(text)}".strip())
        if status >= 400:
            raise VtnError(f"token: HTTP {status}")
        answer = _json(text, "token")
        token = answer.get("access_token") if isinstance(answer, Mapping) else None
        if not isinstance(token, str) or not token:
            raise VtnError("token: no access_token in the answer")
        lifetime = answer.get("expires_in") if isinstance(answer, Mapping) else None
        seconds = lifetime if isinstance(lifetime, int | float) and lifetime > 0 else None
        self._token = token
        self._token_expires = now + (
            timedelta(seconds=seconds) if seconds else DEFAULT_TOKEN_LIFETIME
        )
        return token


def _target_query(target: tuple[str, str] | None) -> dict[str, str]:
    """`targetType` and `targetValues` for a (type, value) target."""
    return {} if target is None else {"targetType": target[0], "targetValues": target[1]}


def _oauth_error(text: str) -> str:
    """The `error` code of an OAuth2 error answer ("invalid_client"...), or ""."""
    try:
        answer = json.loads(text)
    except ValueError:
        return ""
    error = answer.get("error") if isinstance(answer, dict) else None
    return error if isinstance(error, str) else ""


def _json(text: str, what: str) -> Any:
    """The body as JSON, or a `VtnError` saying it is not."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError as err:
        raise VtnError(f"{what}: the answer is not JSON") from err
