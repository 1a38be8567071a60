"""The nightly job's part in Google: read the sources before consolidation, publish after it.

Each Google source becomes a snapshot .xlsx in a folder of this run, and from there on it is a
file like any other: validated, merged, answered with feedback and archived.  A source is only
handed on when its content changed since it was last consolidated, exactly as an unchanged file
is not dropped into the inbox again: otherwise every quiet night would send the submitter a new
feedback workbook and file one more identical submission.

A source that cannot be read (Google busy past the retry caps, not shared, wrong key, bad
credentials) fails alone; the rest of the run goes on.  Publishing happens after the master is
in place and its failure never touches the night's data.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials

from sheetsync.drive import Drive
from sheetsync.gsheets.client import Pacing, RetryPolicy, SheetsSession, connect, connect_service_account
from sheetsync.gsheets.errors import GoogleSheetsError
from sheetsync.gsheets.publish import PublishReport, publish_register
from sheetsync.gsheets.redact import redact_patterns
from sheetsync.gsheets.source import read_spreadsheet, snapshot_name, write_snapshot
from sheetsync.job import GoogleConfig

log = logging.getLogger(__name__)

STAGING_DIR = "gsheets"  # under logs/: snapshots of this run until they are archived
SOURCES_STATE = "google-sources.json"
PUBLISH_STATE = "google-publish.json"


@dataclass(frozen=True)
class GoogleAccess:
    """How a run reaches Google; tests pass ready credentials and a clock that does not wait."""

    credentials: Credentials | None = None  # None: the job's service-account key file
    pacing: Pacing = field(default_factory=Pacing)


@dataclass(frozen=True)
class Snapshot:
    submitter: str
    key: str
    title: str
    path: Path
    digest: str


@dataclass(frozen=True)
class SourceFailure:
    submitter: str
    key: str
    kind: str
    message: str


@dataclass
class SourcesRead:
    changed: list[Snapshot] = field(default_factory=list)  # to consolidate
    unchanged: list[Snapshot] = field(default_factory=list)  # consolidated before, as they are now
    failures: list[SourceFailure] = field(default_factory=list)

    def taken(self) -> list[tuple[str, Path]]:
        return [(snapshot.submitter, snapshot.path) for snapshot in self.changed]


def staging_dir(drive: Drive, started: datetime) -> Path:
    return drive.root / "logs" / STAGING_DIR / f"{started:%Y%m%d-%H%M%S}"


def state_dir(drive: Drive) -> Path:
    return drive.root / "register"


class GoogleNight:
    """One run's connection to Google, opened on first use; a failure to open is every call's failure."""

    def __init__(self, config: GoogleConfig, access: GoogleAccess | None = None) -> None:
        self.config = config
        self.access = access or GoogleAccess()
        self._session: SheetsSession | None = None
        self._failure: GoogleSheetsError | None = None

    def session(self) -> SheetsSession:
        if self._failure is not None:
            raise self._failure
        if self._session is None:
            policy = RetryPolicy(max_tries=self.config.max_tries, max_seconds=self.config.max_seconds)
            try:
                if self.access.credentials is not None:
                    self._session = connect(
                        self.access.credentials,
                        endpoint=self.config.endpoint,
                        policy=policy,
                        pacing=self.access.pacing,
                    )
                else:
                    self._session = connect_service_account(
                        self.config.service_account,
                        endpoint=self.config.endpoint,
                        policy=policy,
                        pacing=self.access.pacing,
                    )
            except GoogleSheetsError as error:
                self._failure = error
                raise
        return self._session

    def read_sources(self, drive: Drive, staging: Path) -> SourcesRead:
        """Read every source into a snapshot under ``staging``; failures are collected, not raised."""
        found = SourcesRead()
        last = load_digests(state_dir(drive) / SOURCES_STATE)
        for submitter, key in self.config.sources.items():
            try:
                self._read_one(submitter, key, staging, last, found)
            except GoogleSheetsError as error:
                log.warning("google source %s (%s) failed: %s", submitter, key, error.message)
                found.failures.append(SourceFailure(submitter, key, error.kind, error.message))
            except Exception as error:  # a bug or a full disk costs this source, not the night
                log.error(
                    "google source %s (%s) failed:\n%s", submitter, key, self.redact(traceback.format_exc())
                )
                message = f"读取 Google 表格“{key}”时出错({type(error).__name__}),详见运行日志"
                found.failures.append(SourceFailure(submitter, key, "error", message))
        return found

    def _read_one(
        self,
        submitter: str,
        key: str,
        staging: Path,
        last: Mapping[str, Mapping[str, str]],
        found: SourcesRead,
    ) -> None:
        book = read_spreadsheet(self.session(), key)
        path = staging / submitter / snapshot_name(book.title)
        snapshot = Snapshot(submitter, key, book.title, path, book.digest)
        if last.get(submitter) == {"key": key, "digest": book.digest}:
            log.info("google source %s (%s): unchanged since last consolidated", submitter, key)
            found.unchanged.append(snapshot)
            return
        write_snapshot(book.book, path)
        log.info("google source %s (%s): read %d sheet(s)", submitter, key, len(book.book.sheets))
        found.changed.append(snapshot)

    def redact(self, text: str) -> str:
        """``text`` without this run's credentials, for anything written to a log or a record."""
        return self._session.redact(text) if self._session is not None else redact_patterns(text)

    def publish(self, drive: Drive, master: Path) -> PublishReport:
        """Publish ``master`` to the configured sheet; raises :class:`GoogleSheetsError` in Chinese."""
        assert self.config.publish_key is not None
        return publish_register(
            self.session(), self.config.publish_key, master, state_dir(drive) / PUBLISH_STATE
        )


# ---------------------------------------------------------------------------- state


def load_digests(path: Path) -> dict[str, dict[str, str]]:
    """Per submitter, the key and content digest last consolidated; unreadable means none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(name): {"key": str(entry.get("key")), "digest": str(entry.get("digest"))}
        for name, entry in data.items()
        if isinstance(entry, dict)
    }


def remember_consolidated(drive: Drive, snapshots: list[Snapshot], when: datetime) -> None:
    """Record the sources consolidated this run, so the same content is not consolidated again."""
    if not snapshots:
        return
    path = state_dir(drive) / SOURCES_STATE
    data: dict[str, Any] = dict(load_digests(path))
    for snapshot in snapshots:
        data[snapshot.submitter] = {
            "key": snapshot.key,
            "digest": snapshot.digest,
            "consolidated_at": when.isoformat(timespec="seconds"),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def clear_staging(drive: Drive) -> None:
    """Remove what is left of the snapshots once the run is over (also a crashed run's).

    Consolidated snapshots are in the archive by now; what is left was not consolidated (a
    blank template, a file that failed to merge) and is read from Google again next run.
    """
    shutil.rmtree(drive.root / "logs" / STAGING_DIR, ignore_errors=True)


def record_entries(read: SourcesRead) -> list[dict[str, Any]]:
    """Run-record lines for the sources that were not consolidated (unchanged or failed)."""
    entries: list[dict[str, Any]] = []
    for snapshot in read.unchanged:
        entries.append(
            {
                "file": f"Google 表格:{snapshot.title}",
                "submitter": snapshot.submitter,
                "status": "unchanged",
                "source": "google",
                "key": snapshot.key,
                "content_hash": snapshot.digest,
                "moved_to": None,
            }
        )
    for failure in read.failures:
        entries.append(
            {
                "file": f"Google 表格:{failure.key}",
                "submitter": failure.submitter,
                "status": "source-failed",
                "source": "google",
                "key": failure.key,
                "kind": failure.kind,
                "message": failure.message,
                "moved_to": None,
            }
        )
    return entries
