"""Supervise a throwaway PostgreSQL server: start it, report when it is ready, and stop it and
remove its files as soon as the process that asked for it goes away.

Run as a script by :mod:`loopwarden._db._postgres` (standard library only, so it starts fast and
does not import loopwarden). The test process holds the write end of this process's stdin; when
that process exits — normally, on Ctrl-C, or killed outright — the pipe closes and the server is
stopped (fast shutdown, then SIGKILL to its process group) and the run directory removed. One
cleanup path for every ending, so a crashed test session leaves no server behind.

Protocol on stdout, one line each: ``started <pid>``, then ``ready`` or ``exited <code>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys

POLL = 0.01
IDLE_POLL = 1.0
STOP_GRACE = 10.0


def _ready(pidfile: str) -> bool:
    # PostgreSQL >= 10 writes its status as the 8th line of postmaster.pid: "ready" once it
    # accepts connections.
    try:
        with open(pidfile, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, disconnect, exit
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_GRACE)
    # Backends are in the server's process group; make sure none survives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait()


def main() -> int:
    spec = json.loads(sys.argv[1])
    # Ctrl-C goes to the test process; this process ends only when its stdin closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rundir: str = spec["rundir"]
    with open(spec["log"], "ab") as log:
        proc = subprocess.Popen(
            spec["cmd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            user=spec.get("user"),
            start_new_session=True,
        )
    _say(f"started {proc.pid}")
    pidfile = os.path.join(spec["datadir"], "postmaster.pid")
    announced = False
    try:
        while True:
            readable, _, _ = select.select([sys.stdin], [], [], IDLE_POLL if announced else POLL)
            if readable and not os.read(sys.stdin.fileno(), 4096):
                break  # the test process closed the pipe or died
            if not announced:
                code = proc.poll()
                if code is not None:
                    _say(f"exited {code}")
                    announced = True
                elif _ready(pidfile):
                    _say("ready")
                    announced = True
    finally:
        _stop(proc)
        shutil.rmtree(rundir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
