"""A real PostgreSQL server for the register tests, started by the tests themselves.

The server is Debian's ``postgresql`` package (``.ci/run`` installs it): ``initdb`` into a
temporary folder, listening on a unix socket in that folder only (no TCP port), fsync off.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user the
package creates. Its databases use an ICU ``en-US`` collation, as a typical production server
would, so a test relying on byte-order sorting that only the "C" locale gives would fail here.

One server per test session, started by the first test that needs it and stopped when the
session ends; every test gets an empty database of its own (a used one is wiped and reused).
Without the binaries (or psycopg) the PostgreSQL half of the tests is skipped on a developer's
machine and fails under CI (``CI`` set).

Use from a test module (the fixtures are named without the ``_fixture`` suffix)::

    from tests.postgres import backend_fixture, register_url_fixture  # noqa: F401

``backend`` runs the test once on ``"sqlite"`` and once on ``"postgresql"``; ``register_url``
is a fresh register URL on that backend, and ``new_register_url`` a callable that makes more
(both need ``backend``); ``postgres_url`` is a fresh PostgreSQL database alone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy.engine import make_url

BACKENDS = ("sqlite", "postgresql")
SERVER_USER = "postgres"  # created by Debian's postgresql package
DATABASE_PREFIX = "sheetsync_test_"


def _find_bin_dir() -> Path | None:
    """The newest installed server's bin folder (Debian keeps it off PATH), or PATH's."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file()
    ]
    if found:
        return max(found, key=version)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path  # data folder, socket and log all live here
    run_as: tuple[str, ...]  # ("runuser", "-u", "postgres", "--") as root, () otherwise
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _free: list[str] = field(default_factory=list)  # emptied databases, ready for the next test

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def _run(self, program: str, *args: str) -> None:
        command = [*self.run_as, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> None:
        common = ["-D", str(self.data), "-U", SERVER_USER, "--auth=trust", "--encoding=UTF8", "--no-sync"]
        try:  # ICU collation as production servers often have; PostgreSQL 15+ only
            icu = ["--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"]
            self._run("initdb", *common, *icu)
        except RuntimeError:
            shutil.rmtree(self.data, ignore_errors=True)
            self._run("initdb", *common, "--locale=C.UTF-8")
        options = (
            f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start"
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SERVER_USER}@/{database}?host={self.socket_dir}"

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), user=SERVER_USER, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """An empty database: a used one wiped clean, else a new one (CREATE DATABASE is slow)."""
        if self._free:
            return self._free.pop()
        name = f"{DATABASE_PREFIX}{next(self._numbers)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Give the database back empty: no session left in it (so no lock), no table, no row."""
        import psycopg

        with self.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        with psycopg.connect(
            host=str(self.socket_dir), user=SERVER_USER, dbname=name, autocommit=True
        ) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        self._free.append(name)


_server: PostgresServer | None = None
_failure: str | None = None  # why the server could not start: not tried again for every test


def postgres_server(config: pytest.Config) -> PostgresServer:
    """The session's server, started on first use (skip or, under CI, fail when it cannot be)."""
    global _server, _failure
    if _server is not None:
        return _server
    if _failure is not None:
        _unavailable(_failure)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg package is not installed (pip install 'psycopg[binary]')")
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        _unavailable("no initdb/pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="sheetsync-pg-"))  # short: a socket path has ~100 bytes
    run_as: tuple[str, ...] = ()
    if os.geteuid() == 0:
        import pwd

        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            _unavailable(f"running as root and there is no '{SERVER_USER}' user to run the server as")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        run_as = ("runuser", "-u", SERVER_USER, "--")
    server = PostgresServer(bin_dir=bin_dir, root=root, run_as=run_as)
    try:
        server.start()
    except RuntimeError as error:
        server.stop()
        _failure = str(error)
        _unavailable(_failure)
    config.add_cleanup(server.stop)  # once, at the end of the session, whichever module started it
    _server = server
    return server


@pytest.fixture(name="backend", params=BACKENDS)
def backend_fixture(request: pytest.FixtureRequest) -> str:
    return request.param


class RegisterUrls:
    """Fresh, empty register URLs on one backend; PostgreSQL databases go back when released."""

    def __init__(self, backend: str, tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> None:
        self.backend = backend
        self._tmp = tmp_path_factory
        self._server = postgres_server(config) if backend == "postgresql" else None
        self._databases: dict[str, str] = {}  # url -> database name

    def __call__(self) -> str:
        if self._server is None:
            return f"sqlite:///{self._tmp.mktemp('register') / 'register.sqlite'}"
        name = self._server.create_database()
        url = self._server.url(name)
        self._databases[url] = name
        return url

    def release(self, url: str) -> None:
        """Done with ``url`` before the test ends (SQLite files are left to pytest)."""
        name = self._databases.pop(url, None)
        if self._server is not None and name is not None:
            self._server.drop_database(name)

    def release_all(self) -> None:
        for url in list(self._databases):
            self.release(url)


@pytest.fixture(name="new_register_url")
def new_register_url_fixture(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RegisterUrls]:
    """Call it for a fresh, empty register URL; every PostgreSQL database is given back afterwards."""
    urls = RegisterUrls(backend, tmp_path_factory, request.config)
    yield urls
    urls.release_all()


@pytest.fixture(name="register_url")
def register_url_fixture(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """One fresh, empty register URL on the ``backend`` of this run of the test."""
    urls = RegisterUrls(backend, tmp_path_factory, request.config)
    yield urls()
    urls.release_all()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database only, for tests that are about PostgreSQL itself."""
    server = postgres_server(request.config)
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


# Raw access that trusts nothing of ours: the DB-API driver itself, no SQLAlchemy, no store.py.


@contextlib.contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """A plain DB-API connection (sqlite3 or psycopg) to a register; commits on success."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with contextlib.closing(sqlite3.connect(parsed.database)) as conn, conn:
            yield conn
        return
    import psycopg

    host = parsed.query.get("host") or parsed.host
    with psycopg.connect(host=host, user=parsed.username, dbname=parsed.database) as conn:
        yield conn


def raw_execute(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement with ``?`` placeholders on either backend; the rows it returns, if any."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        sql = sql.replace("?", "%s")
    with raw_connection(url) as conn:
        cursor = conn.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def table_names(url: str) -> list[str]:
    if make_url(url).get_backend_name() == "sqlite":
        rows = raw_execute(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = raw_execute(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(name for (name,) in rows)


def dump_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, read with the plain driver."""
    return {name: sorted(raw_execute(url, f'SELECT * FROM "{name}"'), key=repr) for name in table_names(url)}


def empty_tables(url: str) -> None:
    """Delete every row of every table (ids start again at 1): a fresh register, without the DDL."""
    names = table_names(url)
    if not names:
        return
    if make_url(url).get_backend_name() == "sqlite":
        with raw_connection(url) as conn:
            for name in names:
                conn.execute(f'DELETE FROM "{name}"')
        return
    raw_execute(url, "TRUNCATE " + ", ".join(f'"{name}"' for name in names) + " RESTART IDENTITY CASCADE")
