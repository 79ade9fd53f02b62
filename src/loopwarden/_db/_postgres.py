"""A throwaway PostgreSQL server from the system's own binaries — no Docker, no service.

:func:`start_server` runs ``initdb`` into a fresh private directory and starts ``postgres`` on a
Unix socket in that directory (no TCP port at all, so parallel runs never collide), tuned for
tests (no fsync). A small supervisor process (:mod:`loopwarden._db._reaper`) owns the server: it
stops it and deletes the directory when the test process closes its pipe — at
:meth:`Server.stop`, at interpreter exit, or when the process dies without running any cleanup.

The binaries are found on ``PATH``, then through ``pg_config --bindir``, then in the usual package
directories (Debian's ``/usr/lib/postgresql/<version>/bin``, Red Hat's ``/usr/pgsql-<version>/bin``,
Homebrew's). PostgreSQL refuses to run as root; as root, ``initdb`` and the server run as the
``postgres`` user (created by the distribution's package) or ``nobody``.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

#: The command that installs the server binaries on the systems CI runs on.
INSTALL_COMMAND = "apt-get install postgresql"
START_TIMEOUT = 60.0
LOG_TAIL = 25


class PostgresError(RuntimeError):
    """The throwaway PostgreSQL server could not be found or started (the message says why)."""


class PostgresNotFound(PostgresError):
    """``initdb``/``postgres`` are not installed where loopwarden looks.

    Attributes:
        searched: the directories that were searched.
    """

    def __init__(self, message: str, searched: list[str]) -> None:
        super().__init__(message, searched)
        self.searched = searched

    def __str__(self) -> str:
        return str(self.args[0])


class PostgresStartError(PostgresError):
    """``initdb`` or the server failed; carries the log tail.

    Attributes:
        step: ``"initdb"`` or ``"postgres"``.
        log_tail: the last lines of the program's output.
    """

    def __init__(self, message: str, step: str, log_tail: str) -> None:
        super().__init__(message, step, log_tail)
        self.step = step
        self.log_tail = log_tail

    def __str__(self) -> str:
        return str(self.args[0])


def _candidate_dirs() -> list[str]:
    dirs: list[str] = []
    found = shutil.which("initdb")
    if found:
        dirs.append(os.path.dirname(os.path.realpath(found)))
        dirs.append(os.path.dirname(found))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            dirs.append(out)

    def version_key(path: str) -> tuple[int, ...]:
        digits = "".join(ch if ch.isdigit() else " " for ch in path).split()
        return tuple(int(d) for d in digits)

    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/opt/homebrew/opt/postgresql*/bin",
        "/usr/local/opt/postgresql*/bin",
    ):
        dirs.extend(sorted(glob.glob(pattern), key=version_key, reverse=True))
    unique: list[str] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_bindir() -> str:
    """The directory holding ``initdb`` and ``postgres``.

    Raises:
        PostgresNotFound: with the exact install command.
    """
    searched = _candidate_dirs()
    for directory in searched:
        if all(os.access(os.path.join(directory, p), os.X_OK) for p in ("initdb", "postgres")):
            return directory
    where = ", ".join(searched) if searched else "nothing found"
    raise PostgresNotFound(
        "loopwarden: --lw-db-url=postgresql starts a throwaway PostgreSQL server from the "
        "system's binaries, but 'initdb' and 'postgres' were not found (looked on PATH, through "
        f"pg_config --bindir and in the usual package directories: {where}).\n"
        f"Install them with: {INSTALL_COMMAND}  (macOS: brew install postgresql), or set "
        "--lw-db-url to a server you run, e.g. postgresql+asyncpg://user:password@host/dbname.",
        searched,
    )


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as when we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError(
        "loopwarden: PostgreSQL refuses to run as root, and neither a 'postgres' nor a 'nobody' "
        "user exists to run it as. Run the tests as an ordinary user, or create one "
        "(useradd postgres)."
    )


def _tail(path: str, lines: int = LOG_TAIL) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return "".join(file.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log was written)"


@dataclass
class Server:
    """A running throwaway server: connect through the Unix socket in :attr:`socket_dir`.

    Attributes:
        rundir: the private directory holding the data directory, the socket and the log.
        port: the port number that names the socket (no TCP port is opened).
        user: the database superuser (``postgres``; trust authentication on the socket only).
        pid: the server's process id.
    """

    rundir: str
    port: int
    user: str
    pid: int
    _reaper: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket_dir(self) -> str:
        return self.rundir

    @property
    def log_path(self) -> str:
        return os.path.join(self.rundir, "postgres.log")

    def url(self, database: str, driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL for ``database`` on this server, through its socket."""
        return f"postgresql+{driver}://{self.user}@/{database}?host={self.rundir}&port={self.port}"

    def log_tail(self) -> str:
        return _tail(self.log_path)

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent; also run at exit)."""
        reaper, self._reaper = self._reaper, None
        if reaper is None:
            return
        if reaper.stdin is not None:
            reaper.stdin.close()  # the reaper's cue: stop the server, remove the directory
        try:
            reaper.wait(30)
        except subprocess.TimeoutExpired:
            reaper.kill()
            reaper.wait()
        if reaper.stdout is not None:
            reaper.stdout.close()


def start_server(*, bindir: str | None = None, port: int = 5432) -> Server:
    """Create and start a throwaway PostgreSQL server; stop it with :meth:`Server.stop`.

    Raises:
        PostgresNotFound: the binaries are not installed.
        PostgresStartError: ``initdb`` or the server failed (the message has the log tail).
    """
    bindir = bindir or find_bindir()
    account = _run_as()
    rundir = tempfile.mkdtemp(prefix="loopwarden-pg-")
    try:
        if account is not None:
            os.chown(rundir, account.pw_uid, account.pw_gid)
        datadir = os.path.join(rundir, "data")
        user_arg = account.pw_name if account is not None else None
        initdb = subprocess.run(
            [
                os.path.join(bindir, "initdb"),
                "-D",
                datadir,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=rundir,
            user=user_arg,
            check=False,
            timeout=START_TIMEOUT,
        )
        if initdb.returncode != 0:
            output = (initdb.stdout + initdb.stderr).strip().splitlines()[-LOG_TAIL:]
            tail = "\n".join(output)
            raise PostgresStartError(
                f"loopwarden: initdb failed (exit {initdb.returncode}) creating a throwaway "
                f"PostgreSQL data directory with {bindir}/initdb. Its output ends with:\n{tail}",
                "initdb",
                tail,
            )
        log = os.path.join(rundir, "postgres.log")
        command = [
            os.path.join(bindir, "postgres"),
            "-D",
            datadir,
            "-p",
            str(port),
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_directories={rundir}",
            # A test database needs no durability: skip every flush to disk.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        spec = {"cmd": command, "user": user_arg, "rundir": rundir, "datadir": datadir, "log": log}
        reaper = subprocess.Popen(
            [sys.executable, "-I", _reaper_path(), _json(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
    except BaseException:
        shutil.rmtree(rundir, ignore_errors=True)
        raise
    server = Server(rundir, port, "postgres", 0, reaper)
    atexit.register(server.stop)
    try:
        started = _read_line(reaper, START_TIMEOUT)
        if started.startswith("started "):
            server.pid = int(started.split()[1])
            status = _read_line(reaper, START_TIMEOUT)
        else:
            status = started
        if status != "ready":
            tail = server.log_tail()
            what = (
                f"exited with {status.split()[1]}"
                if status.startswith("exited")
                else (f"was not ready within {START_TIMEOUT:.0f} s")
            )
            raise PostgresStartError(
                f"loopwarden: the throwaway PostgreSQL server ({bindir}/postgres) {what}. "
                f"Its log ends with:\n{tail}",
                "postgres",
                tail,
            )
    except BaseException:
        server.stop()
        raise
    return server


def _reaper_path() -> str:
    from loopwarden._db import _reaper

    return os.path.abspath(_reaper.__file__)


def _json(spec: object) -> str:
    import json

    return json.dumps(spec)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line from the reaper's stdout within ``timeout`` seconds ("" on timeout or EOF)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    fd = proc.stdout.fileno()
    while not buffer.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return ""
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            return ""
        chunk = os.read(fd, 1)
        if not chunk:
            return buffer.decode().strip()
        buffer += chunk
    return buffer.decode().strip()
