"""What went wrong with Google, said in Chinese to the officer who has to fix it.

Google answers in English status codes; an officer needs to know whether to share the sheet
with the service account (403), fix a key in the job file (404), or simply wait for tomorrow
(429, 5xx, no network).  Every failure of a Google call becomes one :class:`GoogleSheetsError`
whose message says that, and nothing else leaves this package: the original exception is
dropped (``from None``) so no traceback carries a response body that might echo a credential.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import requests
from google.auth import exceptions as auth_exceptions
from gspread.exceptions import APIError, SpreadsheetNotFound

from sheetsync.gsheets.redact import redact_patterns

ErrorKind = Literal[
    "credentials", "forbidden", "not-found", "rate-limited", "unavailable", "unreachable", "rejected"
]

# HTTP statuses worth another try: Google's quota and its passing server errors
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class GoogleSheetsError(Exception):
    """A Google call failed; ``message`` is Chinese and free of credentials."""

    def __init__(self, message: str, *, kind: ErrorKind, status: int | None = None) -> None:
        self.message = redact_patterns(message)
        super().__init__(self.message)
        self.kind: ErrorKind = kind
        self.status = status


class BlockedRequest(requests.RequestException):
    """A request to anything but the Sheets API: this client never needs one, so none leaves."""


class GaveUp(Exception):
    """Retries ran out; ``status`` is None when the endpoint could not be reached at all."""

    def __init__(self, status: int | None, *, tries: int, seconds: float, detail: str = "") -> None:
        super().__init__(status, tries, seconds)
        self.status = status
        self.tries = tries
        self.seconds = seconds
        self.detail = detail


@dataclass(frozen=True)
class Subject:
    """Which spreadsheet a call was about, and what the officer must do to let us at it."""

    action: str  # e.g. 读取 Google 表格
    key: str
    account: str | None  # the service account's e-mail, which the sheet must be shared with
    role: str  # 查看者 to read, 编辑者 to publish
    endpoint: str


@contextmanager
def explained(subject: Subject, redact: Callable[[str], str]) -> Iterator[None]:
    """Turn any failure of a Google call inside the block into a :class:`GoogleSheetsError`."""
    try:
        yield
    except GoogleSheetsError as error:
        raise GoogleSheetsError(redact(error.message), kind=error.kind, status=error.status) from None
    except Exception as error:
        found = explain(error, subject)
        if found is None:
            raise
        raise GoogleSheetsError(redact(found.message), kind=found.kind, status=found.status) from None


def explain(error: Exception, subject: Subject) -> GoogleSheetsError | None:
    """The Chinese explanation of ``error``, or None for an error that is not Google's (a bug)."""
    head = f"{subject.action}“{subject.key}”失败:"
    if isinstance(error, GaveUp):
        return _gave_up(error, head, subject)
    if isinstance(error, PermissionError) and isinstance(error.__cause__, APIError):
        error = error.__cause__
    if isinstance(error, SpreadsheetNotFound):
        return GoogleSheetsError(head + _NOT_FOUND, kind="not-found", status=404)
    if isinstance(error, APIError):
        return _api_error(error, head, subject)
    if isinstance(error, auth_exceptions.RefreshError | auth_exceptions.DefaultCredentialsError):
        return GoogleSheetsError(head + _LOGIN_FAILED, kind="credentials")
    if isinstance(error, BlockedRequest):
        return GoogleSheetsError(head + f"请求的地址不是 Google 表格接口,已拦截:{error}", kind="rejected")
    if isinstance(error, auth_exceptions.TransportError | requests.RequestException):
        reason = type(error).__name__
        return GoogleSheetsError(
            head + f"无法连接 Google 表格接口 {subject.endpoint}({reason});请检查网络或代理设置。",
            kind="unreachable",
        )
    return None


_NOT_FOUND = (
    "找不到该表格(404)。请核对作业文件 [google] 部分中的表格编号"
    "(表格网址中 /d/ 与 /edit 之间的部分),并确认表格没有被删除。"
)
_LOGIN_FAILED = (
    "服务账号无法登录 Google(身份验证失败)。请检查作业文件中 google.service_account 指向的密钥文件"
    "是否为最新、该服务账号及其密钥是否已被停用或删除。"
)


def _api_error(error: APIError, head: str, subject: Subject) -> GoogleSheetsError:
    status = error.response.status_code
    said = str(error.error.get("message", "")).strip()
    if status == 403:
        account = f"服务账号 {subject.account}" if subject.account else "作业使用的服务账号"
        return GoogleSheetsError(
            head + f"没有访问权限(403)。请在该表格的“共享”中把{account}添加为{subject.role};"
            "如已共享,请确认服务账号所在的 Google Cloud 项目已启用 Google Sheets API。",
            kind="forbidden",
            status=status,
        )
    if status == 404:
        return GoogleSheetsError(head + _NOT_FOUND, kind="not-found", status=status)
    if status == 401:
        return GoogleSheetsError(head + _LOGIN_FAILED, kind="credentials", status=status)
    if status in RETRY_STATUSES:  # only when the caller did not retry
        return GoogleSheetsError(
            head + f"Google 服务暂时不可用(HTTP {status});下次运行时会再试。",
            kind="unavailable",
            status=status,
        )
    return GoogleSheetsError(
        head + f"Google 表格接口拒绝了请求(HTTP {status}):{said or '无说明'}", kind="rejected", status=status
    )


def _gave_up(error: GaveUp, head: str, subject: Subject) -> GoogleSheetsError:
    tried = f"已尝试 {error.tries} 次、历时约 {error.seconds:.0f} 秒仍未成功,本次跳过,下次运行时会再试。"
    if error.status == 429:
        return GoogleSheetsError(
            head + f"Google 接口持续返回“请求过多”(429,超出配额);{tried}", kind="rate-limited", status=429
        )
    if error.status is not None:
        return GoogleSheetsError(
            head + f"Google 服务暂时出错(HTTP {error.status});{tried}",
            kind="unavailable",
            status=error.status,
        )
    return GoogleSheetsError(
        head + f"无法连接 Google 表格接口 {subject.endpoint}({error.detail or '网络错误'});{tried}"
        "请检查网络或代理设置。",
        kind="unreachable",
    )
