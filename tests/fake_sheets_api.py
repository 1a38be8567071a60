"""A stateful fake of the Google Sheets API v4 on 127.0.0.1, for the real gspread client to talk to.

It implements what sheetsync's client calls, the way Google answers it: spreadsheets.get (with
grid data and number formats on request), values.get / batchGet (unformatted or formatted,
dates as serial numbers or strings), values.update / batchUpdate (RAW or USER_ENTERED, refused
beyond the grid and over the payload limit), spreadsheets.batchUpdate (addSheet,
updateSheetProperties, deleteSheet; all or nothing) and the OAuth token endpoint a service
account signs in at.  Errors come in Google's JSON shape; the next N requests to a path can be
made to fail with 429, 5xx, 403 or 404.  Every request is logged, so tests can count writes.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from sheetsync.read import read_workbook

TOKEN = "ya29.fake-access-token-4f9c2e7d1b"
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26
CELL_LIMIT = 10_000_000
PAYLOAD_LIMIT = 10 * 1024 * 1024
EPOCH = datetime(1899, 12, 30)

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
STATUS_MESSAGES = {
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
    "of service 'sheets.googleapis.com' for consumer 'project_number:123456789'.",
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "Error")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.message, "status": STATUS_NAMES[self.status]}}


@dataclass(frozen=True)
class Formula:
    """A cell entered as a formula (USER_ENTERED text starting with '=')."""

    text: str


@dataclass
class FakeSheet:
    sheet_id: int
    title: str
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    hidden: bool = False
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)
    formats: dict[tuple[int, int], str] = field(default_factory=dict)  # number format type

    def properties(self, index: int) -> dict[str, Any]:
        found: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.rows, "columnCount": self.cols},
        }
        if self.hidden:
            found["hidden"] = True
        return found

    def table(self) -> list[list[Any]]:
        """Stored values as rows from A1, trailing empties cut: what a test compares."""
        if not self.cells:
            return []
        height = max(r for r, _ in self.cells) + 1
        rows: list[list[Any]] = []
        for r in range(height):
            width = max((c + 1 for rr, c in self.cells if rr == r), default=0)
            rows.append([self.cells.get((r, c), "") for c in range(width)])
        return rows


@dataclass
class FakeSpreadsheet:
    key: str
    title: str
    sheets: list[FakeSheet] = field(default_factory=list)
    forbidden: bool = False
    next_id: int = 0

    def sheet(self, title: str) -> FakeSheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


@dataclass
class Logged:
    method: str
    kind: str  # spreadsheets.get, values.batchGet, values.batchUpdate, ...
    path: str
    query: dict[str, list[str]]
    body: Any
    size: int
    status: int = 0
    authorization: str = ""


@dataclass
class Injected:
    status: int
    remaining: int  # -1: for ever
    path_contains: str = ""
    method: str | None = None
    retry_after: str | None = None
    echo_authorization: bool = False  # a misbehaving proxy that repeats the request's credentials
    after: int = 0  # matching requests let through before the failures start


VALUE_WRITES = frozenset({"values.update", "values.batchUpdate"})


class FakeSheetsAPI:
    """The server's state and its controls; :meth:`start` serves it on a free port of 127.0.0.1."""

    def __init__(self, *, token: str = TOKEN, payload_limit: int = PAYLOAD_LIMIT) -> None:
        self.token = token
        self.payload_limit = payload_limit
        self.spreadsheets: dict[str, FakeSpreadsheet] = {}
        self.log: list[Logged] = []
        self.injected: list[Injected] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ controls

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def start(self) -> FakeSheetsAPI:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def add_spreadsheet(
        self,
        key: str,
        title: str,
        sheets: Mapping[str, Sequence[Sequence[Any]]],
        *,
        hidden: Sequence[str] = (),
    ) -> FakeSpreadsheet:
        """Seed a spreadsheet: str as text, numbers as numbers, dates as serials with a date format."""
        book = FakeSpreadsheet(key=key, title=title)
        for name, rows in sheets.items():
            sheet = FakeSheet(book.new_id(), name, hidden=name in hidden)
            sheet.rows = max(DEFAULT_ROWS, len(rows))
            sheet.cols = max([DEFAULT_COLS, *(len(row) for row in rows)])
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    _seed(sheet, r, c, value)
            book.sheets.append(sheet)
        if not book.sheets:
            book.sheets.append(FakeSheet(book.new_id(), "Sheet1"))
        with self.lock:
            self.spreadsheets[key] = book
        return book

    def forbid(self, key: str) -> None:
        with self.lock:
            self.spreadsheets.setdefault(key, FakeSpreadsheet(key=key, title=key)).forbidden = True

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        path_contains: str = "",
        method: str | None = None,
        retry_after: str | None = None,
        echo_authorization: bool = False,
        after: int = 0,
    ) -> None:
        """The next ``times`` matching requests (-1: all) after the first ``after`` answer ``status``."""
        rule = Injected(
            status,
            times,
            path_contains,
            method.upper() if method else None,
            retry_after,
            echo_authorization,
            after,
        )
        with self.lock:
            self.injected.append(rule)

    def clear_failures(self) -> None:
        with self.lock:
            self.injected.clear()

    def table(self, key: str, title: str) -> list[list[Any]]:
        with self.lock:
            sheet = self.spreadsheets[key].sheet(title)
            assert sheet is not None, title
            return sheet.table()

    def requests_of(self, *kinds: str) -> list[Logged]:
        with self.lock:
            return [entry for entry in self.log if not kinds or entry.kind in kinds]

    def value_writes(self) -> list[Logged]:
        return self.requests_of(*VALUE_WRITES)

    # ------------------------------------------------------------------ dispatch

    def handle(self, entry: Logged, headers: Mapping[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.log.append(entry)
            try:
                injected = self._injected(entry)
                if injected is not None:
                    error = ApiError(injected.status)
                    if injected.echo_authorization:
                        error.message += f" (upstream said: Authorization: {entry.authorization})"
                    extra = {"Retry-After": injected.retry_after} if injected.retry_after else {}
                    entry.status = injected.status
                    return injected.status, error.body(), extra
                if entry.kind == "token":
                    answer = self._token(entry)
                else:
                    if entry.authorization != f"Bearer {self.token}":
                        raise ApiError(401)
                    answer = self._route(entry)
                entry.status = 200
                return 200, answer, {}
            except ApiError as error:
                entry.status = error.status
                return error.status, error.body(), {}

    def _injected(self, entry: Logged) -> Injected | None:
        for rule in self.injected:
            if rule.remaining == 0:
                continue
            if rule.path_contains not in entry.path or (rule.method and rule.method != entry.method):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            if rule.remaining > 0:
                rule.remaining -= 1
            return rule
        return None

    def _token(self, entry: Logged) -> dict[str, Any]:
        form = entry.body if isinstance(entry.body, dict) else {}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise ApiError(400, "invalid_grant")
        if str(form.get("assertion", "")).count(".") != 2:
            raise ApiError(400, "invalid_grant: malformed JWT")
        return {"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"}

    def _route(self, entry: Logged) -> dict[str, Any]:
        prefix = "/v4/spreadsheets/"
        raw_path = urlsplit(entry.path).path
        if not raw_path.startswith(prefix):
            raise ApiError(404)
        rest = raw_path[len(prefix) :]
        head, _, tail = rest.partition("/")
        if not tail and head.endswith(":batchUpdate") and entry.method == "POST":
            return self._batch_update(self._book(unquote(head.removesuffix(":batchUpdate"))), entry.body)
        book = self._book(unquote(head))
        if not tail and entry.method == "GET":
            return self._get(book, entry.query)
        if tail == "values:batchGet" and entry.method == "GET":
            return self._values_batch_get(book, entry.query)
        if tail == "values:batchUpdate" and entry.method == "POST":
            return self._values_batch_update(book, entry.body or {})
        if tail.startswith("values/"):
            range_text = unquote(tail.removeprefix("values/"))
            if entry.method == "GET":
                return self._value_range(book, range_text, entry.query)
            if entry.method == "PUT":
                option = _first(entry.query, "valueInputOption")
                data = {"range": range_text, "values": (entry.body or {}).get("values", [])}
                return self._write(book, option, [data])["responses"][0]
        raise ApiError(404)

    def _book(self, key: str) -> FakeSpreadsheet:
        book = self.spreadsheets.get(key)
        if book is None:
            raise ApiError(404)
        if book.forbidden:
            raise ApiError(403)
        return book

    # ------------------------------------------------------------------ spreadsheets.get

    def _get(self, book: FakeSpreadsheet, query: Mapping[str, list[str]]) -> dict[str, Any]:
        grid = _first(query, "includeGridData") == "true"
        fields = _first(query, "fields") or ""
        ranges = query.get("ranges", [])
        sheets: list[dict[str, Any]] = []
        if grid and ranges:
            for text in ranges:
                sheet, box = self._range(book, text)
                sheets.append(
                    {
                        "properties": sheet.properties(book.sheets.index(sheet)),
                        "data": [_grid_data(sheet, box, fields)],
                    }
                )
        else:
            for index, sheet in enumerate(book.sheets):
                entry: dict[str, Any] = {"properties": sheet.properties(index)}
                if grid:
                    entry["data"] = [_grid_data(sheet, (0, 0, sheet.rows, sheet.cols), fields)]
                sheets.append(entry)
        return {
            "spreadsheetId": book.key,
            "properties": {"title": book.title, "locale": "zh_CN", "timeZone": "Asia/Shanghai"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.key}/edit",
        }

    # ------------------------------------------------------------------ values

    def _values_batch_get(self, book: FakeSpreadsheet, query: Mapping[str, list[str]]) -> dict[str, Any]:
        return {
            "spreadsheetId": book.key,
            "valueRanges": [self._value_range(book, text, query) for text in query.get("ranges", [])],
        }

    def _value_range(
        self, book: FakeSpreadsheet, text: str, query: Mapping[str, list[str]]
    ) -> dict[str, Any]:
        sheet, (r0, c0, r1, c1) = self._range(book, text)
        render = _first(query, "valueRenderOption") or "FORMATTED_VALUE"
        dates = _first(query, "dateTimeRenderOption") or "SERIAL_NUMBER"
        rows: list[list[Any]] = []
        for r in range(r0, r1):
            row = [_render(sheet, (r, c), render, dates) for c in range(c0, c1)]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        answer: dict[str, Any] = {"range": _a1(sheet.title, r0, c0, r1, c1), "majorDimension": "ROWS"}
        if rows:
            answer["values"] = rows
        return answer

    def _values_batch_update(self, book: FakeSpreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._write(book, body.get("valueInputOption"), list(body.get("data", [])))

    def _write(self, book: FakeSpreadsheet, option: Any, data: list[Mapping[str, Any]]) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, f"Invalid valueInputOption: {option or 'INPUT_VALUE_OPTION_UNSPECIFIED'}")
        planned: list[tuple[FakeSheet, int, int, list[list[Any]], str]] = []
        for item in data:
            sheet, (r0, c0, r1, c1) = self._range(book, str(item.get("range", "")))
            values = [list(row) for row in item.get("values", [])]
            height = len(values)
            width = max((len(row) for row in values), default=0)
            if r0 + height > r1 or c0 + width > c1:
                raise ApiError(
                    400,
                    f"Requested writing within range [{item.get('range')}], but tried writing to row "
                    f"[{r0 + height}] column [{c0 + width}]",
                )
            planned.append((sheet, r0, c0, values, _a1(sheet.title, r0, c0, r0 + height, c0 + width)))
        responses = []
        for sheet, r0, c0, values, updated in planned:
            count = 0
            for r, row in enumerate(values, start=r0):
                for c, value in enumerate(row, start=c0):
                    if value is None:
                        continue
                    count += 1
                    stored = _entered(value, option)
                    if stored == "":
                        sheet.cells.pop((r, c), None)
                    else:
                        sheet.cells[(r, c)] = stored
            responses.append(
                {
                    "spreadsheetId": book.key,
                    "updatedRange": updated,
                    "updatedRows": len(values),
                    "updatedColumns": max((len(row) for row in values), default=0),
                    "updatedCells": count,
                }
            )
        return {
            "spreadsheetId": book.key,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rpartition("!")[0] for r in responses}),
            "responses": responses,
        }

    def _range(self, book: FakeSpreadsheet, text: str) -> tuple[FakeSheet, tuple[int, int, int, int]]:
        """The sheet and the half-open box (r0, c0, r1, c1) an A1 range names, within the grid."""
        name, cells = _split_range(text)
        sheet = book.sheet(name) if name is not None else book.sheets[0]
        if sheet is None:
            raise ApiError(400, f"Unable to parse range: {text}")
        box = _box(cells, sheet, text)
        r0, c0, r1, c1 = box
        if r1 > sheet.rows or c1 > sheet.cols or r0 >= sheet.rows or c0 >= sheet.cols:
            raise ApiError(
                400,
                f"Range ({text}) exceeds grid limits. Max rows: {sheet.rows}, max columns: {sheet.cols}",
            )
        return sheet, box

    # ------------------------------------------------------------------ spreadsheets.batchUpdate

    def _batch_update(self, book: FakeSpreadsheet, body: Any) -> dict[str, Any]:
        work = copy.deepcopy(book)
        replies: list[dict[str, Any]] = []
        for position, request in enumerate((body or {}).get("requests", [])):
            if "addSheet" in request:
                replies.append({"addSheet": {"properties": _add_sheet(work, request["addSheet"])}})
            elif "updateSheetProperties" in request:
                _update_sheet(work, request["updateSheetProperties"], position)
                replies.append({})
            elif "deleteSheet" in request:
                sheet_id = request["deleteSheet"].get("sheetId")
                work.sheets = [s for s in work.sheets if s.sheet_id != sheet_id]
                replies.append({})
            else:
                raise ApiError(400, f"Invalid requests[{position}]: unsupported request {sorted(request)}")
        if sum(s.rows * s.cols for s in work.sheets) > CELL_LIMIT:
            raise ApiError(
                400,
                f"This action would increase the number of cells in the workbook above the limit of {CELL_LIMIT} cells.",
            )
        book.sheets, book.next_id = work.sheets, work.next_id
        return {"spreadsheetId": book.key, "replies": replies}


# ---------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSheetsAPI
    protocol_version = "HTTP/1.1"
    # one write per answer and no Nagle: otherwise every keep-alive request waits on a delayed ACK
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        entry = Logged(
            method=self.command,
            kind=_kind(self.command, split.path),
            path=unquote(split.path),
            query=parse_qs(split.query),
            body=None,
            size=len(raw),
            authorization=self.headers.get("Authorization", ""),
        )
        if length > self.fake.payload_limit:
            status, answer, extra = (
                400,
                ApiError(
                    400, f"Request payload size exceeds the limit: {self.fake.payload_limit} bytes."
                ).body(),
                {},
            )
            entry.status = status
            with self.fake.lock:
                self.fake.log.append(entry)
        else:
            entry.body = _parse_body(raw, self.headers.get("Content-Type", ""))
            status, answer, extra = self.fake.handle(entry, dict(self.headers))
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _kind(method: str, path: str) -> str:
    if path == "/token":
        return "token"
    rest = path.removeprefix("/v4/spreadsheets/")
    head, _, tail = rest.partition("/")
    if not tail:
        return "spreadsheets.batchUpdate" if head.endswith(":batchUpdate") else "spreadsheets.get"
    if tail == "values:batchGet":
        return "values.batchGet"
    if tail == "values:batchUpdate":
        return "values.batchUpdate"
    if tail.startswith("values/"):
        return "values.update" if method == "PUT" else "values.get"
    return "unknown"


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8")
    if "application/x-www-form-urlencoded" in content_type:
        return {name: values[0] for name, values in parse_qs(text).items()}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


# ---------------------------------------------------------------------------- cells


def _seed(sheet: FakeSheet, r: int, c: int, value: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, datetime):
        sheet.cells[(r, c)] = (value - EPOCH) / timedelta(days=1)
        sheet.formats[(r, c)] = "DATE_TIME"
    elif isinstance(value, date):
        sheet.cells[(r, c)] = (value - EPOCH.date()).days
        sheet.formats[(r, c)] = "DATE"
    elif isinstance(value, time):
        sheet.cells[(r, c)] = (value.hour * 3600 + value.minute * 60 + value.second) / 86400
        sheet.formats[(r, c)] = "TIME"
    elif isinstance(value, float) and value.is_integer():
        sheet.cells[(r, c)] = int(value)  # Google's JSON writes 3, not 3.0
    else:
        sheet.cells[(r, c)] = value


def _entered(value: Any, option: str) -> Any:
    if option == "RAW" or not isinstance(value, str):
        return value
    if value.startswith("="):
        return Formula(value)
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _render(sheet: FakeSheet, at: tuple[int, int], render: str, dates: str) -> Any:
    value = sheet.cells.get(at, "")
    if isinstance(value, Formula):
        return value.text if render == "FORMULA" else "#NAME?"
    kind = sheet.formats.get(at)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if (
        is_number
        and kind in ("DATE", "DATE_TIME", "TIME")
        and (render == "FORMATTED_VALUE" or dates == "FORMATTED_STRING")
    ):
        moment = EPOCH + timedelta(days=value)
        return {
            "DATE": f"{moment:%Y-%m-%d}",
            "DATE_TIME": f"{moment:%Y-%m-%d %H:%M:%S}",
            "TIME": f"{moment:%H:%M:%S}",
        }[kind]
    if render == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        return str(value)
    return value


def _grid_data(sheet: FakeSheet, box: tuple[int, int, int, int], fields: str) -> dict[str, Any]:
    r0, c0, r1, c1 = box
    want_value = not fields or "effectiveValue" in fields
    want_format = not fields or "effectiveFormat" in fields
    rows: list[dict[str, Any]] = []
    for r in range(r0, r1):
        cells: list[dict[str, Any]] = []
        for c in range(c0, c1):
            cell: dict[str, Any] = {}
            value = sheet.cells.get((r, c))
            if value is not None and want_value:
                if isinstance(value, bool):
                    cell["effectiveValue"] = {"boolValue": value}
                elif isinstance(value, int | float):
                    cell["effectiveValue"] = {"numberValue": value}
                elif isinstance(value, Formula):
                    cell["effectiveValue"] = {"errorValue": {"type": "NAME"}}
                else:
                    cell["effectiveValue"] = {"stringValue": value}
            if (r, c) in sheet.formats and want_format:
                cell["effectiveFormat"] = {"numberFormat": {"type": sheet.formats[(r, c)]}}
            cells.append(cell)
        while cells and not cells[-1]:
            cells.pop()
        rows.append({"values": cells} if cells else {})
    while rows and not rows[-1]:
        rows.pop()
    return {"startRow": r0, "startColumn": c0, "rowData": rows}


# ---------------------------------------------------------------------------- A1 notation

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def _split_range(text: str) -> tuple[str | None, str]:
    """(sheet title or None, cell part) of ``'It''s'!A1:B2``, ``Sheet1!A:A`` or ``Sheet1``."""
    if text.startswith("'"):
        end = 1
        name = []
        while end < len(text):
            if text[end] == "'":
                if text[end + 1 : end + 2] == "'":
                    name.append("'")
                    end += 2
                    continue
                break
            name.append(text[end])
            end += 1
        rest = text[end + 1 :]
        return "".join(name), rest.removeprefix("!")
    if "!" in text:
        name, _, cells = text.rpartition("!")
        return name, cells
    if _is_cells(text):
        return None, text
    return text, ""


_CELLS = re.compile(r"^(?:[A-Za-z]{1,3}\d+|[A-Za-z]{0,3}\d*:[A-Za-z]{0,3}\d*)$")


def _is_cells(text: str) -> bool:
    return bool(_CELLS.match(text))


def _column(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number - 1


def _box(cells: str, sheet: FakeSheet, text: str) -> tuple[int, int, int, int]:
    if not cells:
        return 0, 0, sheet.rows, sheet.cols
    start, _, end = cells.partition(":")
    first, last = _CELL.match(start), _CELL.match(end or start)
    if first is None or last is None:
        raise ApiError(400, f"Unable to parse range: {text}")
    r0 = int(first[2]) - 1 if first[2] else 0
    c0 = _column(first[1]) if first[1] else 0
    r1 = int(last[2]) if last[2] else sheet.rows
    c1 = _column(last[1]) + 1 if last[1] else sheet.cols
    if r1 <= r0 or c1 <= c0:
        raise ApiError(400, f"Unable to parse range: {text}")
    if not end:  # a single cell written to: the data may extend from it
        return r0, c0, sheet.rows, sheet.cols
    return r0, c0, r1, c1


def _letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    quoted = "'" + title.replace("'", "''") + "'"
    if r1 <= r0 or c1 <= c0:
        return f"{quoted}!{_letters(c0)}{r0 + 1}"
    return f"{quoted}!{_letters(c0)}{r0 + 1}:{_letters(c1 - 1)}{r1}"


def _add_sheet(book: FakeSpreadsheet, request: Mapping[str, Any]) -> dict[str, Any]:
    properties = request.get("properties", {})
    title = properties.get("title") or f"Sheet{len(book.sheets) + 1}"
    if any(s.title.casefold() == str(title).casefold() for s in book.sheets):
        raise ApiError(
            400,
            f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
            "Please enter another name.",
        )
    grid = properties.get("gridProperties", {})
    sheet = FakeSheet(
        book.new_id(),
        str(title),
        rows=int(grid.get("rowCount", DEFAULT_ROWS)),
        cols=int(grid.get("columnCount", DEFAULT_COLS)),
        hidden=bool(properties.get("hidden", False)),
    )
    index = properties.get("index")
    if index is None or index >= len(book.sheets):
        book.sheets.append(sheet)
    else:
        book.sheets.insert(int(index), sheet)
    return sheet.properties(book.sheets.index(sheet))


def _field_paths(mask: str) -> list[str]:
    """``gridProperties(rowCount,columnCount),title`` → ``gridProperties.rowCount``, ... , ``title``."""
    paths: list[str] = []
    stack: list[str] = []
    token = ""
    for char in mask.replace("/", ".") + ",":
        if char == "(":
            stack.append(token.strip())
            token = ""
        elif char in ",)":
            if token.strip():
                paths.append(".".join([*stack, token.strip()]))
            token = ""
            if char == ")":
                stack.pop()
        else:
            token += char
    return paths


def _update_sheet(book: FakeSpreadsheet, request: Mapping[str, Any], position: int) -> None:
    properties = request.get("properties", {})
    sheet = next((s for s in book.sheets if s.sheet_id == properties.get("sheetId")), None)
    if sheet is None:
        raise ApiError(
            400,
            f"Invalid requests[{position}].updateSheetProperties: No grid with id: "
            f"{properties.get('sheetId')}",
        )
    mask = request.get("fields")
    if not mask:
        raise ApiError(400, f"Invalid requests[{position}].updateSheetProperties: fields is required")
    grid = properties.get("gridProperties", {})
    for path in _field_paths(mask):
        if path == "title":
            sheet.title = properties["title"]
        elif path == "hidden":
            sheet.hidden = bool(properties.get("hidden", False))
        elif path == "gridProperties.rowCount":
            sheet.rows = int(grid["rowCount"])
        elif path == "gridProperties.columnCount":
            sheet.cols = int(grid["columnCount"])
        elif path in ("gridProperties", "*"):
            sheet.rows = int(grid.get("rowCount", sheet.rows))
            sheet.cols = int(grid.get("columnCount", sheet.cols))
        else:
            raise ApiError(
                400, f"Invalid requests[{position}].updateSheetProperties: unsupported field {path}"
            )
    if sheet.rows < 1 or sheet.cols < 1:
        raise ApiError(400, f"Invalid requests[{position}].updateSheetProperties: a sheet needs a cell")
    sheet.cells = {at: v for at, v in sheet.cells.items() if at[0] < sheet.rows and at[1] < sheet.cols}
    sheet.formats = {at: v for at, v in sheet.formats.items() if at[0] < sheet.rows and at[1] < sheet.cols}


def seed_workbook(api: FakeSheetsAPI, key: str, title: str, path: Path) -> FakeSpreadsheet:
    """A spreadsheet holding the cells of the workbook file at ``path``, where they are in it.

    Hidden sheets stay hidden; dates keep a date format, as when a workbook is imported.
    """
    book = read_workbook(path)
    sheets: dict[str, list[list[Any]]] = {}
    for sheet in book.sheets:
        rows: list[list[Any]] = [[] for _ in range(sheet.first_row)]
        rows += [[None] * sheet.first_col + list(row) for row in sheet.rows]
        sheets[sheet.name] = rows
    return api.add_spreadsheet(key, title, sheets, hidden=[s.name for s in book.sheets if not s.visible])


class FakeTime:
    """A clock that only moves when slept on, and the sleeps asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@contextmanager
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No name but this machine's resolves, and any attempt fails the test, even from a library's thread."""
    resolve = socket.getaddrinfo
    attempts: list[str] = []

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", None):
            attempts.append(str(host))
            raise OSError(f"test tried to reach {host!r}; only 127.0.0.1 is allowed")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    yield
    assert attempts == [], f"tried to reach {attempts}"


@pytest.fixture(name="loopback_only")
def loopback_only_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with loopback_only(monkeypatch):
        yield


@pytest.fixture(name="fake_sheets")
def fake_sheets_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsAPI]:
    """A fresh fake Sheets API on a free port of 127.0.0.1 for one test, with nothing else reachable."""
    with loopback_only(monkeypatch):
        api = FakeSheetsAPI().start()
        try:
            yield api
        finally:
            api.stop()
