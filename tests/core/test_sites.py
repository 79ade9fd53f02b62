"""Creation sites: the user's line behind a library's, and where the search for it stops."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Callable, Generator
from typing import Any

import pytest

from loopwarden._core import _sites
from loopwarden._core._loop import new_loop
from loopwarden._core._sites import Site, creation_sites

LIBRARY_FILE = os.path.join(os.path.abspath(sysconfig.get_paths()["purelib"]), "fakelib.py")
DISPATCH_FILE = os.path.join(os.path.abspath(sysconfig.get_paths()["purelib"]), "fakehooks.py")
USER_FILE = os.path.abspath("user_code.py")


def _function(filename: str, source: str, name: str, **names: Any) -> Callable[[], Any]:
    """A function whose frames report ``filename``: a stand-in for a module of that name."""
    namespace: dict[str, Any] = dict(names)
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]  # type: ignore[no-any-return]


@pytest.fixture
def boundary() -> Generator[None, None, None]:
    previous = _sites._BOUNDARY_FILES  # the plugin's (pluggy's files), for the rest of the run
    _sites.set_boundaries(frozenset({DISPATCH_FILE}))
    yield
    _sites.set_boundaries(previous)


def _stack(with_dispatch: bool) -> Callable[[], Any]:
    """user_code.run() -> [fakehooks.call() ->] fakelib.make() -> creation_sites()."""
    library = "def make():\n    return sites(0)\n"
    make = _function(LIBRARY_FILE, library, "make", sites=creation_sites)
    inner = make
    if with_dispatch:
        inner = _function(DISPATCH_FILE, "def call():\n    return make()\n", "call", make=make)
    return _function(USER_FILE, "def run():\n    return inner()\n", "run", inner=inner)


def test_a_library_site_names_the_users_line_behind_it() -> None:
    assert _stack(with_dispatch=False)() == (
        Site(LIBRARY_FILE, 2, "make"),
        Site(USER_FILE, 2, "run"),
    )


@pytest.mark.usefixtures("boundary")
def test_the_search_for_the_users_line_stops_at_hook_dispatch() -> None:
    # A task pytest-asyncio's runner makes for a test: beyond the hook dispatch there is only
    # the test runner, whatever it called from; the search does not walk all of it.
    assert _stack(with_dispatch=True)() == (Site(LIBRARY_FILE, 2, "make"), None)


@pytest.mark.usefixtures("boundary")
def test_the_users_line_before_the_boundary_is_found() -> None:
    # A conftest hook (the user's code) that calls a library that makes a task.
    assert _stack(with_dispatch=False)() == (
        Site(LIBRARY_FILE, 2, "make"),
        Site(USER_FILE, 2, "run"),
    )


def test_an_owner_is_touched_by_what_it_creates() -> None:
    loop = new_loop()
    try:
        loop.set_owner("t1")
        loop.call_later(10, print)
        assert loop.registry.touched == {"t1"}
        loop.set_owner("t2")  # owning nothing yet
        assert "t2" not in loop.registry.touched
    finally:
        loop.close()


def test_close_hooks_run_once_after_close() -> None:
    loop = new_loop()
    seen: list[object] = []
    loop.close_hooks.append(lambda closed: seen.append((closed, closed.is_closed())))
    loop.close()
    loop.close()
    assert seen == [(loop, True)]


def test_thread_start_recording_nests() -> None:
    import threading

    from loopwarden._core._threads import record_thread_starts, started_at

    before = threading.Thread.start
    record_thread_starts(True)  # e.g. the outer session, when the plugin is on
    record_thread_starts(True)  # an in-process pytester session inside it
    record_thread_starts(False)  # the inner session ends: the outer one still records
    thread = threading.Thread(target=len, args=((),))
    thread.start()
    thread.join()
    site, _ = started_at(thread)
    assert site is not None and site.function == "test_thread_start_recording_nests"
    record_thread_starts(False)
    # Back to what it was (the plugin of this very run may hold a recording of its own).
    assert threading.Thread.start is before


def test_threads_started_since_a_mark() -> None:
    import threading

    from loopwarden._core._threads import record_thread_starts, started_since, thread_mark

    stop = threading.Event()
    record_thread_starts(True)
    try:
        older = threading.Thread(target=stop.wait)
        older.start()
        mark = thread_mark()
        assert isinstance(mark, int)  # counted: nothing is enumerated per check
        assert started_since(mark) == set()
        newer = threading.Thread(target=stop.wait)
        newer.start()
        assert started_since(mark) == {newer}
    finally:
        stop.set()
        record_thread_starts(False)
    older.join()
    newer.join()
    assert started_since(mark) == set()  # ended threads are not "started since"


def test_threads_started_since_when_starts_are_not_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from loopwarden._core._threads import started_since, thread_mark

    # Someone else's wrapper in place of ours (or no recording at all): starts are not counted.
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    stop = threading.Event()
    mark = thread_mark()
    assert isinstance(mark, frozenset)  # falls back to the threads alive
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert started_since(mark) == {thread}
    finally:
        stop.set()
        thread.join()


def test_threads_started_since_while_other_threads_start_threads() -> None:
    # Other threads add to the start records while a check reads them: the check must not fail
    # with "dictionary changed size during iteration".
    import threading

    from loopwarden._core import _threads
    from loopwarden._core._threads import record_thread_starts, started_since, thread_mark

    stop = threading.Event()

    def keep_starting() -> None:
        while not stop.is_set():
            worker = threading.Thread(target=len, args=((),))
            worker.start()
            worker.join()

    record_thread_starts(True)
    starters = [threading.Thread(target=keep_starting) for _ in range(3)]
    try:
        mark = thread_mark()
        for starter in starters:
            starter.start()
        assert isinstance(mark, int)
        while _threads._last_start < mark + 1000:  # checks while 1000 threads start
            started_since(mark)
        assert set(starters) <= started_since(mark)
    finally:
        stop.set()
        for starter in starters:
            starter.join()
        record_thread_starts(False)
