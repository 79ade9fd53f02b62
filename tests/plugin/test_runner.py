"""The own runner, end to end: pytest-asyncio blocked, loopwarden runs async tests and fixtures."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

import loopwarden

from .conftest import HAS_PYTEST_ASYNCIO

FIXTURES_OF_EVERY_KIND = """
import asyncio, contextvars, pytest

var = contextvars.ContextVar("var", default="unset")
events = []

@pytest.fixture(scope="session")
async def queue():
    q = asyncio.Queue()          # bound to the loop it is used on
    yield q
    events.append("queue closed")

@pytest.fixture(scope="module")
async def module_value():
    return "module"

@pytest.fixture(scope="class")
async def class_value():
    yield "class"

@pytest.fixture
async def with_context(queue):
    var.set("from-fixture")
    async with asyncio.timeout(30):   # spans the yield: needs the same task at teardown
        yield asyncio.current_task()
    events.append("with_context torn down")

async def test_fixture_context_reaches_test(with_context, queue):
    assert var.get() == "from-fixture"
    await queue.put(1)
    assert await queue.get() == 1

async def test_context_does_not_leak_into_next_test(queue):
    assert var.get() == "unset"
    assert events == ["with_context torn down"]

async def test_session_fixture_shared_across_tests(queue, module_value):
    await queue.put(2)
    assert await queue.get() == 2
    assert module_value == "module"

class TestInClass:
    @pytest.fixture
    async def bound(self):
        self.marker = "set by fixture"
        return 7

    async def test_method(self, bound, class_value):
        assert (bound, self.marker, class_value) == (7, "set by fixture", "class")

@pytest.mark.parametrize("n", [1, 2, 3])
async def test_parametrized(n, request, monkeypatch, tmp_path):
    monkeypatch.setenv("LW_N", str(n))
    assert request.node.name == f"test_parametrized[{n}]"
    assert tmp_path.exists()

def test_sync_test_can_use_async_fixture(module_value):
    assert module_value == "module"

def test_sync_test_has_no_loop_work():
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise AssertionError("a loop is running during a sync test")
"""


def test_async_tests_and_fixtures_of_every_kind_run(pytester, own):
    pytester.makepyfile(FIXTURES_OF_EVERY_KIND)
    result = own("-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "loopwarden 0.1.0: own runner (pytest-asyncio is disabled with -p no:asyncio); "
            "mode=auto, loop=session",
        ]
    )


def test_default_is_one_loop_for_every_test_and_fixture(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, pytest
        loops = set()

        @pytest.fixture(scope="session")
        async def session_loop():
            return asyncio.get_running_loop()

        @pytest.fixture
        async def function_loop():
            return asyncio.get_running_loop()

        async def test_a(session_loop, function_loop):
            loops.update({session_loop, function_loop, asyncio.get_running_loop()})

        async def test_b(function_loop):
            loops.update({function_loop, asyncio.get_running_loop()})

        def test_count():
            assert len(loops) == 1
            (loop,) = loops
            assert type(loop).__name__ == "WardenLoop"
        """
    )
    own().assert_outcomes(passed=3)


def test_loop_per_test_with_wider_fixture_runs_in_fixture_loop(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, pytest
        seen = {}

        @pytest.fixture(scope="module")
        async def engine():
            return asyncio.get_running_loop()

        async def test_plain_a():
            seen["a"] = asyncio.get_running_loop()

        async def test_plain_b():
            seen["b"] = asyncio.get_running_loop()

        async def test_uses_engine(engine):
            assert asyncio.get_running_loop() is engine

        def test_fresh_loops():
            assert seen["a"] is not seen["b"]
            assert seen["a"].is_closed() and seen["b"].is_closed()
        """
    )
    own("--lw-loop=test", "-v").assert_outcomes(passed=4)


def test_loop_per_test_conflicting_fixture_loops_fail_at_setup(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        async def engine():
            return "engine"

        @pytest.fixture(scope="module")
        async def client():
            return "client"

        async def test_both(engine, client):
            pass
        """
    )
    pytester.makeini("[pytest]\nloopwarden_loop = test\n")
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_both cannot run in one event loop: async fixture "
            "'engine' runs in the session loop and async fixture 'client' runs in the loop of "
            "module test_loop_per_test_conflicting_fixture_loops_fail_at_setup.py.",
            "Fix: set loopwarden_loop = session (the default: one loop for everything), or "
            "give both fixtures the same scope, or make 'client' request 'engine' (a fixture "
            "runs in the loop of the async fixtures it requests).",
        ]
    )


def test_fixture_requesting_wider_async_fixture_runs_in_its_loop(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, pytest

        @pytest.fixture(scope="session")
        async def engine():
            return asyncio.get_running_loop()

        @pytest.fixture(scope="module")
        async def client(engine):
            assert asyncio.get_running_loop() is engine
            return engine

        async def test_both(engine, client):
            assert asyncio.get_running_loop() is engine is client
        """
    )
    own("--lw-loop=test").assert_outcomes(passed=1)


def test_marker_loop_scope_conflicting_with_fixture_loop_fails(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        async def engine():
            return "engine"

        @pytest.mark.asyncio(loop_scope="function")
        async def test_it(engine):
            pass
        """
    )
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_it asks for loop_scope='function' "
            "(@pytest.mark.asyncio) but uses async fixture 'engine', which runs in the session "
            'loop; what the fixture made is bound to that loop ("attached to a different '
            'loop").',
            "Fix: drop loop_scope from the marker, so the test runs in the fixture's loop, "
            "or use loop_scope='session'.",
        ]
    )


def test_marker_loop_scope_module_shares_loop_within_module(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, pytest
        pytestmark = pytest.mark.asyncio(loop_scope="module")
        loops = []

        async def test_a():
            loops.append(asyncio.get_running_loop())

        async def test_b():
            loops.append(asyncio.get_running_loop())
            assert loops[0] is loops[1]
        """
    )
    own("--lw-loop=test").assert_outcomes(passed=2)


def test_bad_marker_loop_scope(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="modul")
        async def test_it():
            pass
        """
    )
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_bad_marker_loop_scope.py::test_it: "
            "@pytest.mark.asyncio(loop_scope='modul') is not a valid loop scope; allowed values: "
            "function, class, module, package, session.",
        ]
    )


def test_strict_mode_runs_only_marked_tests_and_says_why(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_marked():
            pass

        @pytest.mark.loopwarden
        async def test_marked_loopwarden():
            pass

        async def test_unmarked():
            pass
        """
    )
    result = own("--lw-mode=strict")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_unmarked is an async test, but loopwarden_mode = strict "
            "(from --lw-mode) runs only tests marked @pytest.mark.asyncio or "
            "@pytest.mark.loopwarden.",
            "Fix: mark the test, or set loopwarden_mode = auto.",
        ]
    )


def test_asyncio_mode_strict_from_pytest_asyncio_ini_is_honoured(pytester, own):
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    pytester.makepyfile(
        """
        async def test_unmarked():
            pass
        """
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*loopwarden_mode = strict (from asyncio_mode) runs only*"])


def test_plugins_that_read_pytest_asyncio_options_see_them_under_the_own_runner(pytester, own):
    # pytest-aiohttp 1.1 reads config.getoption("asyncio_mode"): the own runner registered the
    # flag under another name, and the session ended in "INTERNALERROR> ValueError: no option
    # named 'asyncio_mode'".
    pytester.makeconftest(
        """
        def pytest_configure(config):
            mode = config.getoption("asyncio_mode") or config.getini("asyncio_mode")
            debug = config.getoption("asyncio_debug")
            print(f"asyncio_mode={mode} asyncio_debug={debug}")
        """
    )
    pytester.makepyfile(
        """
        async def test_it():
            pass
        """
    )
    result = own("--asyncio-mode=auto", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio_mode=auto asyncio_debug=False"])
    result = own("--asyncio-debug", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio_mode= asyncio_debug=True"])


# Stands in for uvloop (not installed where the tests run): a loop class of its own, and a policy
# from a module named uvloop that makes it.
_UVLOOP = textwrap.dedent(
    """
    import asyncio
    import pytest

    class UvLoop(asyncio.SelectorEventLoop):  # stands in for uvloop.Loop
        pass

    class UvloopPolicy:  # stands in for uvloop.EventLoopPolicy
        def new_event_loop(self):
            return UvLoop()

    UvloopPolicy.__module__ = "uvloop"
    """
)


def _with_uvloop(source: str) -> str:
    """The uvloop stand-in, then ``source`` (indented as the tests write their files)."""
    return _UVLOOP + textwrap.dedent(source)


_UNGUARDED = (
    "loopwarden: the project gives some tests loops loopwarden does not make: {names}. Those "
    "tests ran on them without loopwarden's loop guards (what they leave on the loop, blocking "
    "calls, virtual time, fuzzing); threads they leave, coroutines never awaited and timeouts "
    "are still checked. Tests on asyncio's plain loop ran on loopwarden's, guarded."
)


def test_an_event_loop_policy_override_runs_the_same_tests_as_under_pytest_asyncio(
    pytester, own, guarded
):
    """pytest-asyncio runs every test once per param of the project's event_loop_policy fixture
    (an autouse fixture there), on a loop that policy makes. The own runner ignored the params
    (aioconsole: 288 of 294 tests were missing from the run); it then refused every test that
    got uvloop's policy. Now it collects the very same tests and runs each on its policy's loop:
    asyncio's own policy gets loopwarden's loop, guarded; another policy's loop runs unguarded,
    and the summary says so."""
    pytester.makeconftest(
        _with_uvloop(
            """
        @pytest.fixture(params=["default", "uvloop"])
        def event_loop_policy(request):
            if request.param == "default":
                return asyncio.DefaultEventLoopPolicy()
            return UvloopPolicy()

        @pytest.fixture
        async def loop_name():
            return type(asyncio.get_running_loop()).__name__
        """
        )
    )
    pytester.makepyfile(
        test_policy="""
        import asyncio

        async def test_async(request, loop_name):
            expected = "UvLoop" if "uvloop" in request.node.name else "WardenLoop"
            assert type(asyncio.get_running_loop()).__name__ == loop_name == expected

        async def test_leaves_a_timer():
            asyncio.get_running_loop().call_later(30, print)

        def test_sync():
            pass
        """
    )
    ids = [
        "test_policy.py::test_async[default]",
        "test_policy.py::test_async[uvloop]",
        "test_policy.py::test_leaves_a_timer[default]",
        "test_policy.py::test_leaves_a_timer[uvloop]",
        "test_policy.py::test_sync[default]",
        "test_policy.py::test_sync[uvloop]",
    ]
    result = own("--collect-only", "-q")
    assert [line for line in result.stdout.lines if "::" in line] == ids
    if HAS_PYTEST_ASYNCIO:
        pytester.makeini("[pytest]\nasyncio_mode = auto\n")
        result = guarded("--collect-only", "-q")
        assert [line for line in result.stdout.lines if "::" in line] == ids
        pytester.makeini("[pytest]\n")
    result = own("-v")
    # The timer left on loopwarden's loop is found; the one on the policy's loop is not guarded.
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_policy.py::test_async[[]default[]] PASSED*",
            "test_policy.py::test_async[[]uvloop[]] PASSED*",
            "test_policy.py::test_leaves_a_timer[[]default[]] ERROR*",
            "test_policy.py::test_leaves_a_timer[[]uvloop[]] PASSED*",
            _UNGUARDED.format(
                names="'uvloop' (uvloop.UvloopPolicy) from the event_loop_policy fixture: 2 tests"
            ),
        ]
    )
    assert "PytestRemovedIn10Warning" not in result.stdout.str()  # (no instance-method fixture)


def test_a_test_modules_event_loop_policy_applies_to_its_tests_as_a_conftests_does(
    pytester, own, guarded
):
    """A test module's override, with params or without. Without params the own runner ended
    the session in an INTERNALERROR (len(None) in its failure text); with them it failed every
    async test of the module, telling the user to stay on pytest-asyncio."""
    pytester.makepyfile(
        test_params=_with_uvloop(
            """
        @pytest.fixture(params=["default", "uvloop"])
        def event_loop_policy(request):
            if request.param == "default":
                return asyncio.DefaultEventLoopPolicy()
            return UvloopPolicy()

        async def test_async(request):
            expected = "UvLoop" if "uvloop" in request.node.name else "WardenLoop"
            assert type(asyncio.get_running_loop()).__name__ == expected

        def test_sync():
            pass
        """
        ),
        test_plain="""
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop_policy():
            return asyncio.DefaultEventLoopPolicy()

        async def test_leaves_a_timer():
            asyncio.get_running_loop().call_later(30, print)
        """,
    )
    ids = [
        "test_params.py::test_async[default]",
        "test_params.py::test_async[uvloop]",
        "test_params.py::test_sync[default]",
        "test_params.py::test_sync[uvloop]",
        "test_plain.py::test_leaves_a_timer",
    ]
    result = own("--collect-only", "-q")
    assert sorted(line for line in result.stdout.lines if "::" in line) == ids
    if HAS_PYTEST_ASYNCIO:
        pytester.makeini("[pytest]\nasyncio_mode = auto\n")
        result = guarded("--collect-only", "-q")
        assert sorted(line for line in result.stdout.lines if "::" in line) == ids
        pytester.makeini("[pytest]\n")
    result = own("-v")
    # The timer left on loopwarden's loop (asyncio's policy) is found, at its line.
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_params.py::test_async[[]uvloop[]] PASSED*",
            "test_plain.py::test_leaves_a_timer ERROR*",
            "*loopwarden: test_leaves_a_timer left 1 timer behind after teardown:*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_test_classs_event_loop_policy_applies_to_its_tests(pytester, own):
    pytester.makepyfile(
        _with_uvloop(
            """
        class TestIt:
            @pytest.fixture
            def event_loop_policy(self):
                return UvloopPolicy()

            async def test_a(self):
                assert type(asyncio.get_running_loop()).__name__ == "UvLoop"

        async def test_b():
            assert type(asyncio.get_running_loop()).__name__ == "WardenLoop"
        """
        )
    )
    result = own()
    result.assert_outcomes(passed=2)


def test_a_plugin_modules_event_loop_policy_fails_its_tests_saying_so(pytester, own):
    # Neither a conftest.py nor a test module: loopwarden's runner does not see it in time.
    pytester.makepyfile(
        policyplugin="""
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop_policy():
            return asyncio.DefaultEventLoopPolicy()
        """,
        test_a="""
        pytest_plugins = ["policyplugin"]

        async def test_a():
            pass
        """,
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*loopwarden: the project overrides pytest-asyncio's event_loop_policy fixture "
            "(policyplugin.py:4), and loopwarden's own runner applies such an override only "
            "when a conftest.py or a test module defines it; this one comes from elsewhere (a "
            "plugin module), so it would be silently ignored.",
            "*Fix: define the fixture in a conftest.py; or keep pytest-asyncio for this suite "
            "(drop -p no:asyncio): loopwarden then guards the loops pytest-asyncio makes (guard "
            "mode).",
        ]
    )


def test_async_fixtures_wider_than_a_test_are_set_up_again_for_each_policy(pytester, own):
    """A session-scoped policy fixture with params: a session-scoped async fixture is set up
    once per policy, in that policy's loop, as pytest-asyncio sets it up in each policy's loop;
    one set up before a function-scoped policy is named, with the fix."""
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        class UvLoop(asyncio.SelectorEventLoop):
            pass

        class UvloopPolicy:
            def new_event_loop(self):
                return UvLoop()

        @pytest.fixture(scope="session", params=["default", "uvloop"])
        def event_loop_policy(request):
            if request.param == "default":
                return asyncio.DefaultEventLoopPolicy()
            return UvloopPolicy()

        @pytest.fixture(scope="session")
        async def queue():
            return asyncio.Queue()
        """
    )
    pytester.makepyfile(
        test_queue="""
        async def test_put(queue):
            await queue.put(1)
            assert await queue.get() == 1

        async def test_again(queue):
            await queue.put(2)
            assert await queue.get() == 2
        """
    )
    own("-v").assert_outcomes(passed=4)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace('scope="session", params=', "params="))
    result = own("-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_put[uvloop] runs on the loop 'uvloop' (conftest.UvloopPolicy), but "
            "async fixture 'queue' was set up in the session loop for an earlier test, and pytest "
            'keeps its value for this one: what it made is bound to that loop ("attached to a '
            'different loop").',
            "Fix: make 'queue' request event_loop_policy, so it is set up again for each policy, "
            "or give it function scope.",
        ]
    )


def test_shutdown_asyncgens_in_a_test_finalizes_its_async_generator_fixtures(pytester, run):
    """As under pytest-asyncio: the own runner began a fixture's generator outside the running
    loop, so the loop never registered it and loop.shutdown_asyncgens() left it open (gql's
    client.subscribe() runs it; its test waits for the fixture's server to stop)."""
    pytester.makepyfile(
        """
        import asyncio, pytest

        closed = []

        @pytest.fixture
        async def server():
            try:
                yield "srv"
            finally:
                closed.append("server")

        async def test_shutdown_asyncgens_finalizes_the_fixture(server):
            await asyncio.get_running_loop().shutdown_asyncgens()
            assert closed == ["server"]
        """
    )
    run().assert_outcomes(passed=1)


def test_shutdown_asyncgens_in_a_test_leaves_a_session_fixture_alone(pytester, own):
    # A review case: pytest-asyncio sets a session fixture up in a wider loop than the test's
    # (loop_scope="session"), which the test's shutdown_asyncgens() does not reach; the own
    # runner's one session loop must not tear it down either.
    pytester.makepyfile(
        """
        import asyncio, pytest

        STATE = {}

        @pytest.fixture(scope="session")
        async def service():
            STATE["up"] = True
            try:
                yield
            finally:
                STATE["up"] = False

        async def test_shuts_down_asyncgens(service):
            await asyncio.get_running_loop().shutdown_asyncgens()
            assert STATE["up"]

        async def test_after(service):
            assert STATE["up"]
        """
    )
    own("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_session_without_a_policy_override_has_no_event_loop_policy_fixture(pytester, own):
    """The autouse name is registered only for a project that overrides it: others pay nothing."""
    pytester.makepyfile(
        test_plain="""
        async def test_async(request):
            assert "event_loop_policy" not in request.fixturenames
        """
    )
    own().assert_outcomes(passed=1)


def test_pytest_asyncio_port_fixtures_exist_under_the_own_runner(pytester, own):
    # Suites moving over from pytest-asyncio use its port fixtures: "fixture 'unused_tcp_port'
    # not found" at setup.
    pytester.makepyfile(
        """
        import asyncio

        async def test_serves_on_the_port(unused_tcp_port):
            async def echo(reader, writer):
                writer.write(await reader.read(5))
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(echo, "127.0.0.1", unused_tcp_port)
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
                writer.write(b"hello")
                assert await reader.read() == b"hello"
                writer.close()
                await writer.wait_closed()

        def test_factories_never_repeat(unused_tcp_port_factory, unused_udp_port_factory):
            tcp = [unused_tcp_port_factory() for _ in range(20)]
            udp = [unused_udp_port_factory() for _ in range(20)]
            assert len(set(tcp)) == 20 and len(set(udp)) == 20

        def test_udp(unused_udp_port):
            assert 0 < unused_udp_port < 65536
        """
    )
    result = own()
    result.assert_outcomes(passed=3)


def test_a_loop_factories_hook_is_never_an_unknown_hook_nor_silently_ignored(
    pytester, own, guarded
):
    """A conftest answering pytest-asyncio's hook ended the own runner's session with
    "PluginValidationError: unknown hook 'pytest_asyncio_loop_factories'"; then each async test
    it answered with several loops failed, and ran once; then the tests that got a loop other
    than asyncio's plain one were refused. Now the tests are parametrized over the answer as
    pytest-asyncio parametrizes them (the same ids), and each runs on its factory's loop:
    asyncio's plain loop is loopwarden's, guarded; any other runs unguarded, and the summary
    says so. A session-scoped async fixture is set up again in each kind of loop, as
    pytest-asyncio does."""
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        class OtherLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            if "plain" in item.name:
                return {"asyncio": asyncio.new_event_loop}
            if "lone" in item.name:
                return {"other": OtherLoop}
            return {"asyncio": asyncio.new_event_loop, "other": OtherLoop}

        @pytest.fixture(scope="session")
        async def session_loop():
            return asyncio.get_running_loop()
        """
    )
    pytester.makepyfile(
        test_factories="""
        import asyncio

        def loop_kind():
            return type(asyncio.get_running_loop()).__name__

        async def test_plain():
            assert loop_kind() == "WardenLoop"

        async def test_two_loops(request, session_loop):
            expected = "OtherLoop" if "other" in request.node.name else "WardenLoop"
            assert loop_kind() == expected
            assert session_loop is asyncio.get_running_loop()

        async def test_lone():
            assert loop_kind() == "OtherLoop"
        """
    )
    result = own("--collect-only", "-q")
    ids = sorted(line for line in result.stdout.lines if "::" in line)
    hidden = hasattr(pytest, "HIDDEN_PARAM")
    assert ids == [
        f"test_factories.py::{'test_lone' if hidden else 'test_lone[other]'}",
        f"test_factories.py::{'test_plain' if hidden else 'test_plain[asyncio]'}",
        "test_factories.py::test_two_loops[asyncio]",
        "test_factories.py::test_two_loops[other]",
    ]
    if HAS_PYTEST_ASYNCIO:
        pytester.makeini("[pytest]\nasyncio_mode = auto\n")
        result = guarded("--collect-only", "-q")
        assert sorted(line for line in result.stdout.lines if "::" in line) == ids
        pytester.makeini("[pytest]\n")
    result = own()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            _UNGUARDED.format(
                names="'other' (conftest.OtherLoop) from the pytest_asyncio_loop_factories hook "
                "(conftest.py): 2 tests"
            )
        ]
    )


def test_on_a_project_loop_the_hang_report_holds_and_virtual_time_says_it_does_not_apply(
    pytester, own
):
    """The watchdog reads any loop's tasks; virtual time applies to loopwarden's loops only, and
    a test that asks for it on another loop is told, not silently run in real time."""
    pytester.makeconftest(
        """
        import asyncio

        class OtherLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"other": OtherLoop}
        """
    )
    pytester.makepyfile(
        test_other="""
        import asyncio
        import pytest

        async def test_hangs():
            await asyncio.Event().wait()

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_in_virtual_time():
            assert type(asyncio.get_running_loop()).__name__ == "OtherLoop"
        """
    )
    result = own("-o", "loopwarden_timeout=0.5")
    result.assert_outcomes(passed=1, failed=1)
    # (A lone factory's id is hidden from pytest 8.4 on; before, the test is test_hangs[other].)
    lone = "" if hasattr(pytest, "HIDDEN_PARAM") else "[[]other[]]"
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.5 s (loopwarden_timeout); "
            "1 task was pending:",
            f"  Task 'loopwarden test test_hangs{lone}' (test_hangs) — the test",
            "    test_other.py:5 in test_hangs   ← awaiting Future pending (Event.wait)",
            f"*PytestWarning: loopwarden: test_in_virtual_time{lone} asks for virtual time, but "
            "it runs on the loop 'other' (conftest.OtherLoop) from the "
            "pytest_asyncio_loop_factories hook (conftest.py), which loopwarden does not make: it "
            "runs in real time. Give the test asyncio's own loop to run it on loopwarden's, or "
            "drop virtual time for this test.",
        ]
    )


def test_a_loop_factories_hook_answers_only_for_the_tests_below_its_conftest(pytester, own):
    # pytest-asyncio asks the item's own hook relay; the whole session's hook made a sibling
    # folder's answer fail every async test.
    pytester.makepyfile(
        **{
            "a/conftest.py": """
            import asyncio

            class OtherLoop(asyncio.SelectorEventLoop):
                pass

            def pytest_asyncio_loop_factories(config, item):
                return {"other": OtherLoop}
            """,
            "a/test_a.py": "import asyncio\n\nasync def test_a():\n"
            "    assert type(asyncio.get_running_loop()).__name__ == 'OtherLoop'\n",
            "b/test_b.py": "import asyncio\n\nasync def test_b():\n"
            "    assert type(asyncio.get_running_loop()).__name__ == 'WardenLoop'\n",
        }
    )
    result = own("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            _UNGUARDED.format(
                names="'other' (conftest.OtherLoop) from the pytest_asyncio_loop_factories hook "
                "(a/conftest.py): 1 test"
            )
        ]
    )


def test_a_leftover_event_loop_fixture_is_named_with_its_replacement(pytester, own):
    # pytest-asyncio 0.x's recipe: the own runner ran the test on its own loop while the fixture
    # made another, which never ran ("attached to a different loop", tasks that never start).
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()
        """
    )
    pytester.makepyfile(
        test_leftover="""
        import asyncio

        async def test_schedules_on_it(event_loop):
            event_loop.call_soon(print, "never")

        async def test_without_it():
            assert asyncio.get_running_loop().is_running()

        def test_sync_driver(event_loop):
            assert event_loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
        """
    )
    result = own()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ test_schedules_on_it _*_",
            "loopwarden: test_schedules_on_it uses the event_loop fixture (conftest.py:4), "
            "pytest-asyncio 0.x's way to choose a test's loop. pytest-asyncio 1.0 removed it, and "
            "loopwarden's runner runs the test on its own loop: the loop this fixture makes is "
            "another one, which never runs (what is scheduled on it never happens).",
            "Fix: drop the event_loop argument and call asyncio.get_running_loop() in the test; "
            "delete the fixture. For a loop shared by a module or the whole session, use "
            '@pytest.mark.asyncio(loop_scope="module") or loopwarden_loop = session (the '
            "default), not a fixture.",
        ]
    )


def test_pytest_asyncio_loop_scope_settings_are_honoured(pytester, own):
    pytester.makeini(
        "[pytest]\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "asyncio_default_test_loop_scope = function\n"
    )
    pytester.makepyfile(
        """
        import asyncio
        loops = []

        async def test_a():
            loops.append(asyncio.get_running_loop())

        async def test_b():
            loops.append(asyncio.get_running_loop())
            assert loops[0] is not loops[1]
        """
    )
    own().assert_outcomes(passed=2)


@pytest.mark.parametrize("aware", ["0", "1"])
def test_filterwarnings_marks_and_the_warnings_summary_hold_inside_async_tests(
    pytester, run, monkeypatch, aware
):
    # Python 3.14 keeps warning filters per context with -X context_aware_warnings=1 (the
    # default on free-threaded builds): the marks used to have no effect after the first async
    # test, and the summary lost what async tests warned.
    if sys.version_info < (3, 14) and aware == "1":
        pytest.skip("context-aware warnings came in Python 3.14")
    monkeypatch.setenv("PYTHON_CONTEXT_AWARE_WARNINGS", aware)
    pytester.makepyfile(
        test_warns="""
        import warnings, pytest

        @pytest.fixture
        async def warns_at_setup():
            warnings.warn("from the fixture", UserWarning)

        async def test_first():
            pass

        @pytest.mark.filterwarnings("error::UserWarning")
        async def test_mark_makes_it_an_error():
            with pytest.raises(UserWarning, match="old"):
                warnings.warn("old", UserWarning)

        @pytest.mark.filterwarnings("ignore::UserWarning")
        async def test_mark_hides_it():
            warnings.warn("hidden", UserWarning)

        async def test_shows_in_the_summary(warns_at_setup):
            warnings.warn("shown", UserWarning)
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "test_warns.py::test_shows_in_the_summary",
            "  */test_warns.py:5: UserWarning: from the fixture",
            '    warnings.warn("from the fixture", UserWarning)',
            "",
            "test_warns.py::test_shows_in_the_summary",
            "  */test_warns.py:20: UserWarning: shown",
            '    warnings.warn("shown", UserWarning)',
        ]
    )
    result.stdout.no_fnmatch_line("*hidden*")


def test_async_generator_test_gets_clear_error(pytester, own):
    pytester.makepyfile(
        """
        async def test_gen():
            yield 1
        """
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_gen is an async generator ('async def' with 'yield'), "
            "not a test coroutine; a test cannot yield.",
            "Fix: remove the 'yield' (or, if it is meant to be a fixture, decorate it with "
            "@pytest.fixture).",
        ]
    )


def test_sync_wrapper_around_coroutine_gets_clear_error(pytester, own):
    pytester.makepyfile(
        """
        import functools

        def retry(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                return func(*args, **kwargs)
            return wrapper

        @retry
        async def test_wrapped():
            raise AssertionError("never runs")
        """
    )
    result = own("-W", "error::RuntimeWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_wrapped is a synchronous wrapper (a decorator's inner "
            "function) around the coroutine function test_wrapped; it returned an awaitable that "
            "nobody awaits, so the test body never ran.",
            "Fix: make the decorator's wrapper 'async def' and 'await' the wrapped function "
            "(functools.wraps keeps the name).",
        ]
    )


def test_sync_test_marked_asyncio_is_warned(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        def test_sync():
            pass
        """
    )
    result = own()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: loopwarden: test_sync is marked to run on an event loop but is not "
            "an 'async def' function; the marker does nothing. Remove the marker, or make the "
            "test 'async def'.",
        ]
    )


def test_asyncio_run_inside_async_test_says_what_to_do(pytester, own):
    pytester.makepyfile(
        """
        import asyncio

        async def work():
            return 1

        async def test_nested():
            coro = work()
            try:
                asyncio.run(coro)
            finally:
                coro.close()
        """
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *RuntimeError: asyncio.run() cannot be called from a running event loop",
            "E *loopwarden: this async test already runs in an event loop, so it cannot "
            "start another with asyncio.run(). Fix: 'await' the coroutine directly instead of "
            "asyncio.run(coro).",
        ]
    )


def test_getfixturevalue_of_async_fixture_from_running_loop(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def db():
            return "db"

        async def test_dynamic(request):
            request.getfixturevalue("db")
        """
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: async fixture 'db' was requested with "
            "request.getfixturevalue() while the event loop is running (from inside an async "
            "test or fixture); an async fixture cannot be set up from inside a running loop.",
            "Fix: request 'db' as an argument of the test or fixture instead.",
        ]
    )
    assert "never awaited" not in result.stdout.str() + result.stderr.str()


def test_fixture_errors_and_test_failures_point_at_user_code(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def broken():
            raise ValueError("fixture setup failed")
            yield

        async def test_uses_broken(broken):
            pass

        async def test_fails():
            x = 1
            assert x == 2
        """
    )
    result = own()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            '*raise ValueError("fixture setup failed")',
            "E       ValueError: fixture setup failed",
            "test_fixture_errors_and_test_failures_point_at_user_code.py:5: ValueError",
            "*_ test_fails _*",
            "    async def test_fails():",
            "        x = 1",
            ">       assert x == 2",
            "E       assert 1 == 2",
        ]
    )


def test_async_fixture_with_two_yields(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def twice():
            yield 1
            yield 2

        async def test_it(twice):
            pass
        """
    )
    result = own()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: async fixture 'twice' has more than one 'yield'; a fixture "
            "yields its value exactly once, then tears down.",
        ]
    )


def test_anyio_tests_are_left_to_anyio(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_anyio():
            assert type(asyncio.get_running_loop()).__name__ == "WardenLoop"
            # anyio's runner task, not loopwarden's test driver, runs it
            assert not asyncio.current_task().get_name().startswith("loopwarden")
        """
    )
    own().assert_outcomes(passed=1)


def test_unittest_isolated_asyncio_testcase_gets_a_warden_loop(pytester, own):
    pytester.makepyfile(
        """
        import asyncio, unittest

        class T(unittest.IsolatedAsyncioTestCase):
            async def asyncSetUp(self):
                self.loop = asyncio.get_running_loop()

            async def test_loop(self):
                loop = asyncio.get_running_loop()
                assert loop is self.loop
                assert type(loop).__name__ == "WardenLoop"
                assert loop.registry.owner.endswith("::T::test_loop")
        """
    )
    own().assert_outcomes(passed=1)


def test_xdist_one_loop_per_worker(pytester, own):
    body = """
        import asyncio, os, pathlib

        async def test_{n}():
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open(pathlib.Path({root!r}) / f"loops-{{worker}}.txt", "a") as f:
                f.write(f"{{id(asyncio.get_running_loop())}}\\n")
        """
    for n in range(8):
        pytester.makepyfile(**{f"test_x{n}": body.format(n=n, root=str(pytester.path))})
    result = own("-n", "2")
    result.assert_outcomes(passed=8)
    per_worker = {
        path.name: set(path.read_text().split()) for path in pytester.path.glob("loops-*.txt")
    }
    assert sorted(per_worker) == ["loops-gw0.txt", "loops-gw1.txt"]
    assert all(len(loops) == 1 for loops in per_worker.values())


def test_other_plugins_see_the_test_function_and_a_sync_call(pytester, own):
    # Outside its setup..teardown an async test's item.obj is its own coroutine function; a
    # pytest_pyfunc_call wrapper sees an ordinary (sync) call, and may wrap it in turn (pytest's
    # --trace does); a second run of the protocol, as rerun plugins do it, swaps it again.
    pytester.makeconftest(
        """
        import functools
        import inspect
        import pytest
        from _pytest.runner import runtestprotocol

        def kind(obj):
            return "coroutine function" if inspect.iscoroutinefunction(obj) else "sync"

        def pytest_collection_finish(session):
            for item in session.items:
                print(f"\\ncollected {item.name}: {kind(item.obj)}")

        @pytest.hookimpl(wrapper=True)
        def pytest_pyfunc_call(pyfuncitem):
            inner = pyfuncitem.obj
            print(f"\\ncall {pyfuncitem.name}: {kind(inner)} around {kind(inspect.unwrap(inner))}")

            # As pytest's --trace does: wrap the function in turn, and leave it wrapped.
            @functools.wraps(inner)
            def traced(*args, **kwargs):
                return inner(*args, **kwargs)

            pyfuncitem.obj = traced
            return (yield)

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item, nextitem):
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            for _ in range(2 if item.name == "test_twice" else 1):
                runtestprotocol(item, nextitem=nextitem)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            print(f"\\nafter {item.name}: {kind(item.obj)}")
            return True
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        runs = []

        async def test_twice():
            runs.append(asyncio.current_task().get_name())

        class TestInClass:
            async def test_method(self):
                assert isinstance(self, TestInClass)

        def test_ran_twice():
            assert len(runs) == 2
        """
    )
    result = own("-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "collected test_twice: coroutine function",
            "collected test_method: coroutine function",
            "collected test_ran_twice: sync",
            "call test_twice: sync around coroutine function",
            "call test_twice: sync around coroutine function",
            "after test_twice: coroutine function",
            "call test_method: sync around coroutine function",
            "after test_method: coroutine function",
            "call test_ran_twice: sync around sync",
            "after test_ran_twice: sync",
        ]
    )


SWITCHED_OFF = {
    "runner": "async tests are not run by loopwarden's own runner",
    "guard": "loops of pytest-asyncio, unittest and anyio are not loopwarden's, and not guarded",
    "leaks": "no leak checks (loopwarden_leaks_baseline in the ini file has no effect)",
    "report": "no terminal summary, JSON report or leak baseline (loopwarden_report, "
    "loopwarden_leaks_baseline in the ini file have no effect)",
    "watchdog": "no timeouts, hang reports or blocking checks",
    "clock": "no virtual time",
    "fuzz": "no schedule fuzzing",
    "db": "no database fixtures",
    "components": "no server and mock fixtures",
}


@pytest.mark.parametrize("part", list(SWITCHED_OFF))
def test_each_part_can_be_switched_off_alone(pytester, own, part):
    """With the leak baseline, the JSON report and the doctor in use, the run works without any
    one part, and its header says what that part's absence switches off. (A baseline with the
    report plugin off marked every leak "recorded", was never written, and no leak failed.)"""
    pytester.makeini(
        "[pytest]\nloopwarden_leaks_baseline = baseline.json\nloopwarden_report = report.json\n"
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_leaks():
            asyncio.get_running_loop().call_later(30, print)

        async def test_clean():
            await asyncio.sleep(0)

        def test_sync():
            pass
        """
    )
    result = own(
        "-p",
        f"no:loopwarden.{part}",
        "-p",
        "loopwarden._plugin.doctor",
        "--lw-doctor=doctor.jsonl",
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.fnmatch_lines(
        [f"loopwarden: loopwarden.{part} is switched off: {SWITCHED_OFF[part]}"]
    )
    written = sorted(p.name for p in pytester.path.iterdir() if p.suffix in (".json", ".jsonl"))
    records = [
        json.loads(line) for line in (pytester.path / "doctor.jsonl").read_text().splitlines()
    ]
    assert [r.get("nodeid", r["event"]) for r in records] == [
        "collected",
        "test_each_part_can_be_switched_off_alone.py::test_leaks",
        "test_each_part_can_be_switched_off_alone.py::test_clean",
        "test_each_part_can_be_switched_off_alone.py::test_sync",
    ]
    outcomes = result.parseoutcomes()
    if part == "runner":
        # pytest < 8.4 skips an unhandled async test with a warning; newer versions fail it.
        assert outcomes.get("failed", 0) + outcomes.get("skipped", 0) == 2
        result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
        assert written == ["baseline.json", "doctor.jsonl", "report.json"]
    elif part == "leaks":
        result.assert_outcomes(passed=3)
        assert written == ["doctor.jsonl", "report.json"]
    elif part == "report":
        # No baseline: the leak fails its test, as without one.
        result.assert_outcomes(passed=3, errors=1)
        result.stdout.fnmatch_lines(["loopwarden: test_leaks left 1 timer behind after teardown:"])
        assert written == ["doctor.jsonl"]
    else:
        # The leak is recorded into the new baseline: a warning, not a failure.
        result.assert_outcomes(passed=3, warnings=1)
        result.stdout.fnmatch_lines(["*baseline recorded: *baseline.json*"])
        assert written == ["baseline.json", "doctor.jsonl", "report.json"]


def test_a_flag_that_switches_the_part_off_anyway_is_no_conflict(pytester, own):
    pytester.makepyfile("def test_it():\n    pass\n")
    result = own("-p", "no:loopwarden.leaks", "--lw-leaks=off", "-p", "no:loopwarden.watchdog")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("flag", "part", "what"),
    [
        ("--lw-report=r.json", "report", "no terminal summary, JSON report or leak baseline"),
        ("--lw-leaks-baseline=b.json", "leaks", "no leak checks"),
        ("--lw-timeout=5", "watchdog", "no timeouts, hang reports or blocking checks"),
    ],
)
def test_a_flag_that_needs_a_switched_off_part_is_a_usage_error(pytester, own, flag, part, what):
    pytester.makepyfile("def test_it():\n    pass\n")
    result = own("-p", f"no:loopwarden.{part}", flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    option = flag.split("=")[0]
    result.stderr.fnmatch_lines(
        [
            f"ERROR: loopwarden: {option} needs loopwarden.{part}, which -p no:loopwarden.{part} "
            f"switches off ({what}). Leave out one of the two."
        ]
    )


def test_blocking_the_main_plugin_switches_all_of_loopwarden_off(pytester, run):
    # Each part of loopwarden is its own entry point; -p no:loopwarden must stop them all, not
    # leave them reading settings nobody registered (it ended in an INTERNALERROR).
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            names = sorted(
                getattr(plugin, "__name__", type(plugin).__name__)
                for plugin in session.config.pluginmanager.get_plugins()
                if "loopwarden" in getattr(plugin, "__name__", type(plugin).__module__)
            )
            print("\\nloopwarden plugins:", ", ".join(names))
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        def test_sync():
            pass

        async def test_async():
            print("loop:", type(asyncio.get_running_loop()).__name__)
        """
    )
    result = run("-p", "no:loopwarden", "-s")
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line(f"loopwarden {loopwarden.__version__}:*")
    # The components plugin only defines fixtures: nothing of it runs unless a test asks.
    result.stdout.fnmatch_lines(["loopwarden plugins: loopwarden._plugin.components"])
    if run.mode == "guard":
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*loop: _UnixSelectorEventLoop*"])
    else:
        outcomes = result.parseoutcomes()
        assert outcomes.get("failed", 0) + outcomes.get("skipped", 0) == 1
        assert outcomes.get("passed") == 1
        result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
