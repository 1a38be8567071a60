"""One gspread client the way a nightly job needs it: bounded, redirectable, and quiet about secrets.

gspread's own :class:`gspread.BackOffHTTPClient` never gives up on a quota error that does not
clear, and a nightly run must end, so retrying is ours (:class:`SheetsHTTPClient`): a cap on tries
and on seconds, exponential waits with jitter so that many jobs do not retry in step.  The Sheets
API endpoint can be moved (a company proxy, the fake server in the tests) by a transport adapter
on the client's ``requests`` session: gspread copies its URL constants at import, so rewriting
the request on its way out is the one place that sees every call.  Nothing but the Sheets API is
ever contacted through that session.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gspread
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from gspread.exceptions import APIError
from requests.adapters import BaseAdapter, HTTPAdapter

from sheetsync.gsheets.errors import (
    RETRY_STATUSES,
    BlockedRequest,
    GaveUp,
    GoogleSheetsError,
    Subject,
    explained,
)
from sheetsync.gsheets.redact import Redactor

log = logging.getLogger(__name__)

GOOGLE_SHEETS_ENDPOINT = "https://sheets.googleapis.com"
# reading and publishing both; no Drive scope: spreadsheets are opened by key, never by title
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
TIMEOUT = (10.0, 120.0)  # connect, read: a hung connection must not hold the night
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may keep trying; both caps come from the job file."""

    max_tries: int = 5
    max_seconds: float = 60.0
    first_wait: float = 1.0
    longest_wait: float = 32.0

    def wait(self, attempt: int, draw: float) -> float:
        """Seconds before try ``attempt + 1``: doubling, capped, half of it random (``draw`` in [0, 1))."""
        ceiling = min(self.longest_wait, self.first_wait * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * draw)


@dataclass(frozen=True)
class Pacing:
    """How waiting happens; tests pass a fake clock so a retry test takes no time."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    random: Callable[[], float] = random.random


# ---------------------------------------------------------------------------- transport


class EndpointAdapter(HTTPAdapter):
    """Sends what gspread addresses to Google's Sheets API to the configured endpoint instead."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if self.endpoint != GOOGLE_SHEETS_ENDPOINT and url.startswith(GOOGLE_SHEETS_ENDPOINT):
            request.url = self.endpoint + url[len(GOOGLE_SHEETS_ENDPOINT) :]
            # the session chose proxies for Google's host; the new host may need others, or none
            kwargs["proxies"] = _proxies_for(request.url)
        return super().send(request, **kwargs)


class RefusingAdapter(BaseAdapter):
    """Refuses every request it is asked to send: we only ever need the Sheets API."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        raise BlockedRequest(urlsplit(request.url or "").netloc)

    def close(self) -> None:
        return None


def route_sheets_api(session: requests.Session, endpoint: str) -> None:
    """Point ``session`` at ``endpoint`` for the Sheets API and at nothing else."""
    session.mount("https://", RefusingAdapter())
    session.mount("http://", RefusingAdapter())
    session.mount(GOOGLE_SHEETS_ENDPOINT + "/", EndpointAdapter(endpoint))


def sign_in_request(credentials: Credentials, endpoint: str) -> AuthRequest | None:
    """How the credentials reach their token endpoint; None leaves it to google-auth.

    With the Sheets API moved elsewhere (a proxy, the tests), the credentials' own requests may
    go to their token endpoint and nowhere else: google-auth also looks up a "regional access
    boundary" at iamcredentials.googleapis.com after signing in, which such a setup must not
    reach and does not need.
    """
    if endpoint == GOOGLE_SHEETS_ENDPOINT:
        return None
    session = requests.Session()
    session.mount("https://", RefusingAdapter())
    session.mount("http://", RefusingAdapter())
    token_uri = getattr(credentials, "_token_uri", None) or getattr(credentials, "token_uri", None)
    if isinstance(token_uri, str) and token_uri:
        parts = urlsplit(token_uri)
        session.mount(f"{parts.scheme}://{parts.netloc}/", HTTPAdapter())
    return AuthRequest(session)


def _proxies_for(url: str) -> dict[str, str]:
    if urlsplit(url).hostname in _LOOPBACK:
        return {}
    return dict(requests.utils.get_environ_proxies(url))


# ---------------------------------------------------------------------------- retrying


class SheetsHTTPClient(gspread.HTTPClient):
    """gspread's HTTP client with our bounded retry on 429, 5xx and lost connections."""

    def __init__(
        self,
        auth: Credentials,
        session: requests.Session | None = None,
        *,
        endpoint: str = GOOGLE_SHEETS_ENDPOINT,
        policy: RetryPolicy | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        endpoint = endpoint.rstrip("/")
        if session is None:
            session = AuthorizedSession(auth, auth_request=sign_in_request(auth, endpoint))
        super().__init__(auth, session)
        self.auth = auth
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
        self.pacing = pacing or Pacing()
        self.timeout = TIMEOUT
        route_sheets_api(self.session, self.endpoint)

    def request(
        self,
        method: str,
        endpoint: str,
        params: MutableMapping[str, Any] | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        started = self.pacing.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return super().request(
                    method, endpoint, params=params, data=data, json=json, files=files, headers=headers
                )
            except APIError as error:
                status: int | None = error.response.status_code
                if status not in RETRY_STATUSES:
                    raise
                retry_after = _retry_after(error.response)
                detail = f"HTTP {status}"
            except (requests.ConnectionError, requests.Timeout) as error:
                status, retry_after, detail = None, None, type(error).__name__
            wait = max(self.policy.wait(attempt, self.pacing.random()), retry_after or 0.0)
            elapsed = self.pacing.clock() - started
            where = f"{method.upper()} {urlsplit(endpoint).path}"
            if attempt >= self.policy.max_tries or elapsed + wait > self.policy.max_seconds:
                log.warning(
                    "Sheets API %s: %s, giving up after %d tries in %.1f s", where, detail, attempt, elapsed
                )
                raise GaveUp(status, tries=attempt, seconds=elapsed, detail=detail) from None
            log.info(
                "Sheets API %s: %s on try %d of %d, next try in %.1f s",
                where,
                detail,
                attempt,
                self.policy.max_tries,
                wait,
            )
            self.pacing.sleep(wait)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait (a proxy may say so; Google itself rarely does)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class ServiceAccount:
    credentials: Credentials
    email: str | None
    secrets: tuple[str, ...]  # the private key and its id: never to be written anywhere


def load_service_account(path: Path) -> ServiceAccount:
    """The service account in the JSON key file at ``path``, or a Chinese :class:`GoogleSheetsError`.

    No message quotes the file's content: it is a private key.
    """
    try:
        info = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise GoogleSheetsError(
            f"找不到服务账号密钥文件“{path}”。请在 Google Cloud 控制台为服务账号创建 JSON 密钥,"
            "保存到共享盘以外的安全位置,并在作业文件 google.service_account 中填写它的路径。",
            kind="credentials",
        ) from None
    except OSError as error:
        raise GoogleSheetsError(
            f"无法读取服务账号密钥文件“{path}”:{error.strerror or type(error).__name__}", kind="credentials"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GoogleSheetsError(
            f"服务账号密钥文件“{path}”不是有效的 JSON 文件。", kind="credentials"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise GoogleSheetsError(
            f"“{path}”不是服务账号密钥文件:应为 Google Cloud 控制台下载的服务账号 JSON 密钥"
            '("type": "service_account");OAuth 客户端文件不能用于无人值守的夜间运行。',
            kind="credentials",
        )
    secrets = tuple(str(info[name]) for name in ("private_key", "private_key_id") if info.get(name))
    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError, TypeError):
        raise GoogleSheetsError(
            f"服务账号密钥文件“{path}”内容不完整或已损坏,请在 Google Cloud 控制台重新创建并下载。",
            kind="credentials",
        ) from None
    return ServiceAccount(credentials=credentials, email=credentials.service_account_email, secrets=secrets)


# ---------------------------------------------------------------------------- session


@dataclass
class SheetsSession:
    """A connected gspread client with the redaction and the messages that go with it."""

    client: gspread.Client
    endpoint: str
    account: str | None
    redact: Redactor = field(default_factory=Redactor)

    @property
    def http(self) -> SheetsHTTPClient:
        http = self.client.http_client
        assert isinstance(http, SheetsHTTPClient)
        return http

    def explained(self, action: str, key: str, *, role: str) -> AbstractContextManager[None]:
        """Inside the block, a failed call raises :class:`GoogleSheetsError` in Chinese."""
        return explained(Subject(action, key, self.account, role, self.endpoint), self.redact)


def connect(
    credentials: Credentials,
    *,
    endpoint: str = GOOGLE_SHEETS_ENDPOINT,
    policy: RetryPolicy | None = None,
    pacing: Pacing | None = None,
    secrets: tuple[str, ...] = (),
) -> SheetsSession:
    """A session over ``credentials``; ``secrets`` are extra strings never to be shown."""
    http = SheetsHTTPClient(credentials, endpoint=endpoint, policy=policy, pacing=pacing)
    client = gspread.Client(credentials, session=http.session)
    client.http_client = http

    def known_secrets() -> Iterator[str | None]:
        yield getattr(credentials, "token", None)
        yield getattr(credentials, "refresh_token", None)
        yield from secrets

    return SheetsSession(
        client=client,
        endpoint=http.endpoint,
        account=getattr(credentials, "service_account_email", None),
        redact=Redactor(known_secrets),
    )


def connect_service_account(
    path: Path,
    *,
    endpoint: str = GOOGLE_SHEETS_ENDPOINT,
    policy: RetryPolicy | None = None,
    pacing: Pacing | None = None,
) -> SheetsSession:
    account = load_service_account(path)
    return connect(
        account.credentials, endpoint=endpoint, policy=policy, pacing=pacing, secrets=account.secrets
    )
