"""A real PostgreSQL server for tests, started and stopped by the tests themselves.

`initdb` makes a cluster in a new temporary folder, owned by an unprivileged user (`nobody`
when the tests run as root: PostgreSQL refuses to run as root; else the current user).
The server listens on a Unix socket in that folder only (no TCP port), is started with its
PID kept, is ready when `pg_isready` says so (bounded by READY_TIMEOUT_SECONDS), and is
stopped by that PID (SIGINT, PostgreSQL's fast shutdown). `stop()` and `start()` may be
called again in a test, to take the database away for a while.

    server = PostgresServer.create()
    url = server.create_database("t1")      # postgresql://fernwartung@/t1?host=...
    ...
    server.destroy()

Debian's package `postgresql` provides the binaries (/usr/lib/postgresql/<version>/bin);
FERNWARTUNG_PG_BIN names another folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05
PORT = 5432  # names the socket file only: the folder is private, so any number will do
SUPERUSER = "fernwartung"


class PostgresMissing(RuntimeError):
    pass


def postgres_bin() -> Path:
    given = os.environ.get("FERNWARTUNG_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not found:
        raise PostgresMissing(
            "PostgreSQL is not installed: apt-get install postgresql (or set FERNWARTUNG_PG_BIN)"
        )
    return found[-1].parent


class PostgresServer:
    def __init__(self, root: Path, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root
        self._bin = bin_dir
        self._user = user
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls) -> PostgresServer:
        bin_dir = postgres_bin()
        user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="fernwartung-pg-"))
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(root, bin_dir, user)
        try:
            server._run(
                [str(bin_dir / "initdb"), "-D", str(server.data), "-U", SUPERUSER,
                 "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
            )  # fmt: skip
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    def _as_user(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=self.root, **self._as_user()
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()}")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        if self._process is not None:
            raise RuntimeError("the test PostgreSQL is already running")
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - the server's own
        try:
            self._process = subprocess.Popen(
                [str(self._bin / "postgres"), "-D", str(self.data), "-k", str(self.socket_dir),
                 "-p", str(PORT), "-c", "listen_addresses=", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdout=log, stderr=log, cwd=self.root, **self._as_user(),
            )  # fmt: skip
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            ready = subprocess.run(
                [str(self._bin / "pg_isready"), "-q", "-h", str(self.socket_dir),
                 "-p", str(PORT), "-U", SUPERUSER, "-d", "postgres", "-t", "1"],
                check=False,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_SECONDS)  # the pace of the checks, and a crash
            if process.returncode is not None:
                self._process = None
                raise RuntimeError(f"the test PostgreSQL exited; see {self.root}/postgres.log")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the test PostgreSQL was not ready in {READY_TIMEOUT_SECONDS} s"
                )

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown: clients are disconnected)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self, name: str) -> str:
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
