"""Rewrites 3, 4 and 5: the ``event_loop`` parameter, sync tests that drive it, and overrides.

Each case compares the whole migrated text, and the whole text of every report.
"""

from __future__ import annotations

import pytest

from loopwarden.migrate._analyze import Settings, analyze, finalize
from loopwarden.migrate._runner import decide, migrate_source

from ._helpers import PATH, dedent, migrate

# -- rewrite 3: the event_loop parameter of async tests and fixtures ------------------------------


def test_parameter_goes_and_each_use_gets_the_running_loop() -> None:
    new, reports = migrate(
        """\
        import pytest


        async def test_a(event_loop, client):
            fut = event_loop.create_future()
            event_loop.call_soon(fut.set_result, (event_loop))
            assert await fut is event_loop
            assert client.start(loop=event_loop, event_loop=1)
            assert client.event_loop is None


        class TestB:
            async def test_b(
                self,
                event_loop,
            ):
                async def inner():
                    return event_loop.time()

                assert await inner()


        @pytest.fixture
        async def server(unused_tcp_port, event_loop, *, host="127.0.0.1"):
            yield await event_loop.create_server(object, host, unused_tcp_port)


        async def test_unused(event_loop):
            assert True
        """
    )
    assert new == dedent(
        """\
        import asyncio

        import pytest


        async def test_a(client):
            fut = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, (asyncio.get_running_loop()))
            assert await fut is asyncio.get_running_loop()
            assert client.start(loop=asyncio.get_running_loop(), event_loop=1)
            assert client.event_loop is None


        class TestB:
            async def test_b(
                self,
            ):
                async def inner():
                    return asyncio.get_running_loop().time()

                assert await inner()


        @pytest.fixture
        async def server(unused_tcp_port, *, host="127.0.0.1"):
            yield await asyncio.get_running_loop().create_server(object, host, unused_tcp_port)


        async def test_unused():
            assert True
        """
    )
    assert reports == []


def test_an_asyncio_alias_is_used_and_nothing_is_imported_without_a_use() -> None:
    new, reports = migrate(
        """\
        import asyncio as aio


        async def test_a(event_loop):
            assert event_loop is aio.get_running_loop()


        async def test_b(event_loop):
            assert True
        """
    )
    assert new == dedent(
        """\
        import asyncio as aio


        async def test_a():
            assert aio.get_running_loop() is aio.get_running_loop()


        async def test_b():
            assert True
        """
    )
    assert reports == []
    assert migrate("async def test_b(event_loop):\n    pass\n") == (
        "async def test_b():\n    pass\n",
        [],
    )


def test_the_parameter_goes_for_target_pytest_asyncio_too() -> None:
    source = """\
        import pytest


        @pytest.mark.asyncio
        async def test_a(event_loop):
            assert event_loop.is_running()
        """
    assert migrate(source, target="pytest-asyncio") == (
        dedent(
            """\
            import asyncio

            import pytest


            @pytest.mark.asyncio
            async def test_a():
                assert asyncio.get_running_loop().is_running()
            """
        ),
        [],
    )


@pytest.mark.parametrize(
    ("body", "line", "why"),
    [
        (
            "    callback = lambda: event_loop.stop()\n    callback()\n",
            2,
            "event_loop is used in a lambda, which may run when no loop is running; not "
            "rewritten: write loop = asyncio.get_running_loop() at the top of test_a, use loop "
            "there, and remove the event_loop parameter",
        ),
        (
            "    def stop():\n        event_loop.stop()\n\n    stop()\n",
            3,
            "event_loop is used in the nested function stop, which may run when no loop is "
            "running; not rewritten: write loop = asyncio.get_running_loop() at the top of "
            "test_a, use loop there, and remove the event_loop parameter",
        ),
        (
            "    if event_loop is None:\n        event_loop = object()\n",
            3,
            "event_loop is assigned to, so its uses cannot all become asyncio.get_running_loop(); "
            "not rewritten: remove the event_loop parameter and call asyncio.get_running_loop() "
            "where the loop is needed",
        ),
        (
            "    for event_loop in [1]:\n        pass\n",
            2,
            "event_loop is assigned to, so its uses cannot all become asyncio.get_running_loop(); "
            "not rewritten: remove the event_loop parameter and call asyncio.get_running_loop() "
            "where the loop is needed",
        ),
    ],
    ids=["lambda", "nested-def", "assigned", "for-target"],
)
def test_uses_that_may_run_outside_the_loop_or_rebind_it_are_left(
    body: str, line: int, why: str
) -> None:
    source = "async def test_a(event_loop):\n" + body
    new, reports = migrate(source)
    assert new == source
    assert reports == [f"{PATH}:{line}: test_a: {why}"]


def test_a_helper_that_takes_a_loop_is_left_with_a_note_saying_why() -> None:
    source = """\
        async def start(event_loop):
            return event_loop.time()


        class Helper:
            async def test_like(self, event_loop):
                return event_loop


        class TestOuter:
            class Inner:
                async def test_nested(self, event_loop):
                    return event_loop
        """
    assert migrate(source) == (
        dedent(source),
        [
            f"note: {PATH}:1: start takes event_loop but is not a test (its name does not match "
            "python_functions (test)) nor a fixture; left as it is, as its callers pass the "
            "loop. If pytest does collect it as a test, make it `async def` and use "
            "asyncio.get_running_loop() instead",
            f"note: {PATH}:6: test_like takes event_loop but is not a test (its class Helper is "
            "not a test class by python_classes (Test)) nor a fixture; left as it is, as its "
            "callers pass the loop. If pytest does collect it as a test, make it `async def` "
            "and use asyncio.get_running_loop() instead",
            f"note: {PATH}:12: test_nested takes event_loop but is not a test (its class Inner "
            "is not a test class by python_classes (Test)) nor a fixture; left as it is, as its "
            "callers pass the loop. If pytest does collect it as a test, make it `async def` "
            "and use asyncio.get_running_loop() instead",
        ],
    )


def test_tests_are_found_by_the_configured_python_classes_and_python_functions() -> None:
    # mode-streaming's setup.cfg: `python_classes = test_*`; a suite may name tests `check_*`.
    new, reports = migrate(
        """\
        class test_Service:
            async def test_start(self, event_loop):
                assert event_loop.is_running()

            class Test_inner:
                async def check_stop(self, event_loop):
                    assert event_loop.is_running()


        async def check_module(event_loop):
            assert event_loop.is_running()


        class TestOld:
            async def test_not_collected(self, event_loop):
                return event_loop
        """,
        python_functions=("test", "check_*"),
        python_classes=("test_*", "*_inner"),
    )
    assert new == dedent(
        """\
        import asyncio

        class test_Service:
            async def test_start(self):
                assert asyncio.get_running_loop().is_running()

            class Test_inner:
                async def check_stop(self):
                    assert asyncio.get_running_loop().is_running()


        async def check_module():
            assert asyncio.get_running_loop().is_running()


        class TestOld:
            async def test_not_collected(self, event_loop):
                return event_loop
        """
    )
    assert reports == [
        f"note: {PATH}:15: test_not_collected takes event_loop but is not a test (its class "
        "TestOld is not a test class by python_classes (test_*, *_inner)) nor a fixture; left "
        "as it is, as its callers pass the loop. If pytest does collect it as a test, make it "
        "`async def` and use asyncio.get_running_loop() instead"
    ]


# -- rewrite 4: sync tests and fixtures that drive event_loop -------------------------------------


NO_EVENT_LOOP = (
    "pytest-asyncio's event_loop fixture (gone in pytest-asyncio 1.0; loopwarden's runner has none)"
)


def test_a_sync_test_that_only_runs_coroutines_on_event_loop_becomes_async() -> None:
    source = """\
        def test_a(event_loop):
            event_loop.run_until_complete(start(1))
            result = event_loop.run_until_complete(stop())
            assert event_loop.run_until_complete(get()).ok
            check(event_loop.run_until_complete(get()), at=event_loop.time())
            value = event_loop.run_until_complete(pending or fetch(3))
            event_loop.run_until_complete(asyncio.sleep(0) if fast else close())
            assert result
        """
    new, reports = migrate(source)
    # (`await` binds tighter than `or` and `if`: what is awaited keeps its parentheses.)
    assert new == dedent(
        """\
        import asyncio

        async def test_a():
            await start(1)
            result = await stop()
            assert (await get()).ok
            check(await get(), at=asyncio.get_running_loop().time())
            value = await (pending or fetch(3))
            await (asyncio.sleep(0) if fast else close())
            assert result
        """
    )
    assert reports == []
    # The loop handed on whole: a sync helper may drive it, which fails on the running loop.
    handed = (
        "def test_b(event_loop):\n    run_both(event_loop, event_loop.run_until_complete(a()))\n"
    )
    assert migrate(handed)[0] == handed


def test_in_strict_mode_a_sync_test_that_runs_coroutines_is_reported_with_the_await() -> None:
    # As `async def` it would need a marker to run at all.
    source = """\
        def test_a(event_loop):
            event_loop.run_until_complete(start(1))
            result = event_loop.run_until_complete(stop())
            assert result
        """
    new, reports = migrate(source, strict=True)
    assert new == dedent(source)
    assert reports == [
        f"{PATH}:1: test_a is a sync test that drives pytest-asyncio's event_loop fixture (gone "
        "in pytest-asyncio 1.0; loopwarden's runner has none) with "
        "event_loop.run_until_complete(...); not rewritten: make it `async def test_a(...)` "
        "without the event_loop parameter and write `await start(1)` for "
        "`event_loop.run_until_complete(start(1))` (likewise on line 3)"
    ]


DRIVER = """\
import asyncio

import pytest


@pytest.fixture(scope="function")
def echo_server(
    request: pytest.FixtureRequest,
    host: str,
    event_loop: asyncio.AbstractEventLoop,
) -> asyncio.AbstractServer:
    server = event_loop.run_until_complete(
        event_loop.create_server(Echo, host=host, port=0)
    )

    # Stopped after the test, even a failed one.
    def close_server() -> None:
        server.close()
        event_loop.run_until_complete(server.wait_closed())

    request.addfinalizer(close_server)

    return server


@pytest.fixture
def started(event_loop):
    client = Client()
    event_loop.run_until_complete(client.start())
    yield client
    event_loop.run_until_complete(client.stop())
"""


def test_a_sync_fixture_with_an_addfinalizer_becomes_an_async_yield_fixture() -> None:
    """aiosmtplib 2.0.2's server fixtures: ``run_until_complete`` at setup and in a
    ``request.addfinalizer`` callback. The callback's body follows a ``yield``, as pytest runs
    both at the same points (teardown even after a failed test)."""
    new, reports = migrate(DRIVER)
    assert new == dedent(
        """\
        import asyncio
        from collections.abc import AsyncIterator

        import pytest


        @pytest.fixture(scope="function")
        async def echo_server(
            request: pytest.FixtureRequest,
            host: str,
        ) -> AsyncIterator[asyncio.AbstractServer]:
            server = await asyncio.get_running_loop().create_server(Echo, host=host, port=0)

            yield server
            # Stopped after the test, even a failed one.
            server.close()
            await server.wait_closed()


        @pytest.fixture
        async def started():
            client = Client()
            await client.start()
            yield client
            await client.stop()
        """
    )
    assert reports == []
    # pytest-asyncio in strict mode runs an async fixture only under its own decorator.
    strict, _ = migrate(DRIVER, target="pytest-asyncio", strict=True)
    assert strict.count("@pytest_asyncio.fixture") == 2
    assert "import pytest_asyncio\n" in strict


@pytest.mark.parametrize(
    ("body", "why"),
    [
        # Another loop is run or stopped: as `async def` that fails.
        ("    event_loop.run_until_complete(a())\n    event_loop.close()\n", "close"),
        ("    event_loop.run_until_complete(a())\n    asyncio.run(b())\n", "asyncio.run"),
        ("    other.run_until_complete(a())\n    event_loop.run_until_complete(a())\n", "other"),
        # The finalizer cannot move after a `yield`: an early return, a return of its own, not
        # the statement before the last return, a lambda.
        (
            "    if x:\n        return None\n    def stop():\n"
            "        event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(stop)\n    return 1\n",
            "early return",
        ),
        (
            "    def stop():\n        return event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(stop)\n    return 1\n",
            "finalizer returns",
        ),
        (
            "    def stop():\n        event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(stop)\n    x = 1\n    return x\n",
            "not just before the return",
        ),
        (
            "    event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(lambda: event_loop.run_until_complete(b()))\n    return 1\n",
            "lambda",
        ),
        # What it runs holds code that may run outside the loop.
        ("    event_loop.run_until_complete(a(lambda: 1))\n", "lambda argument"),
        # The return expression may raise after addfinalizer registered the callback.
        (
            "    def stop():\n        event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(stop)\n    return event_loop.run_until_complete(b())\n",
            "return expression",
        ),
        # Another fixture's request (a session one): its finalizer runs at another time.
        (
            "    def stop():\n        event_loop.run_until_complete(a())\n"
            "    other.addfinalizer(stop)\n    return 1\n",
            "not request",
        ),
        (
            "    def stop(): event_loop.run_until_complete(a())\n"
            "    request.addfinalizer(stop)\n    return 1\n",
            "one-line finalizer",
        ),
        # `return x` in what becomes an async generator does not compile.
        (
            "    r = event_loop.run_until_complete(a())\n    if r:\n        yield r\n"
            "        return\n    return None\n",
            "generator returning a value",
        ),
        # The loop handed on whole, or a loop method handed on uncalled, or a loop setting
        # that would now hold for the shared loop.
        ("    event_loop.run_until_complete(a())\n    drain(event_loop)\n", "handed on"),
        (
            "    event_loop.run_until_complete(a())\n"
            "    threading.Thread(target=event_loop.run_forever).start()\n",
            "method handed on",
        ),
        (
            "    event_loop.run_until_complete(a())\n    event_loop.set_exception_handler(None)\n",
            "loop setting",
        ),
    ],
)
def test_a_sync_fixture_that_drives_the_loop_otherwise_is_left_and_reported(
    body: str, why: str
) -> None:
    source = "import asyncio\nimport pytest\n\n\n@pytest.fixture\n"
    source += "def f(request, other, event_loop):\n" + body
    new, reports = migrate(source)
    assert new == source, why
    assert reports == [
        f"{PATH}:6: f is a sync fixture that uses pytest-asyncio's event_loop fixture (gone in "
        "pytest-asyncio 1.0; loopwarden's runner has none); not rewritten: make it `async def`, "
        "await what it runs on the loop, and call asyncio.get_running_loop() where it needs the "
        "loop"
    ], why


def test_other_sync_uses_of_event_loop_are_reported_without_the_await_advice() -> None:
    source = """\
        import pytest


        def test_a(event_loop):
            assert not event_loop.is_closed()


        @pytest.fixture
        def server(event_loop):
            event_loop.run_until_complete(start())
            return event_loop.run_forever()


        def test_b(request):
            request.getfixturevalue("event_loop")
        """
    new, reports = migrate(source)
    assert new == dedent(source)
    assert reports == [
        f"{PATH}:4: test_a is a sync test that uses pytest-asyncio's event_loop fixture (gone in "
        "pytest-asyncio 1.0; loopwarden's runner has none); not rewritten: make it `async def`, "
        "await what it runs on the loop, and call asyncio.get_running_loop() where it needs the "
        "loop",
        f"{PATH}:9: server is a sync fixture that uses pytest-asyncio's event_loop fixture (gone "
        "in pytest-asyncio 1.0; loopwarden's runner has none); not rewritten: make it `async "
        "def`, await what it runs on the loop, and call asyncio.get_running_loop() where it "
        "needs the loop",
        f"{PATH}:15: getfixturevalue('event_loop') asks for pytest-asyncio's event_loop fixture "
        "(gone in pytest-asyncio 1.0; loopwarden's runner has none); not rewritten: ask for "
        "nothing and call asyncio.get_running_loop() in the async test or fixture that needs "
        "the loop",
    ]


def test_an_unread_event_loop_parameter_of_a_sync_fixture_goes_on_the_session_loop() -> None:
    # Asked for only to have a current loop while a client made in it looks the loop up: the own
    # runner's session loop is current while an async test's fixtures are set up. Not for a sync
    # test (no loop is current for one until an async test made the session loop), nor with a
    # narrower loop, nor for pytest-asyncio 1.x (no current loop for sync fixtures).
    source = """\
        import pytest


        @pytest.fixture
        def client(event_loop):
            return Client()


        def test_sync(event_loop):
            run_client_sync()
        """
    new, reports = migrate(source)
    assert new == dedent(source).replace("def client(event_loop):", "def client():")
    assert reports == [
        f"{PATH}:9: test_sync is a sync test that uses {NO_EVENT_LOOP}; not rewritten: make it "
        "`async def`, await what it runs on the loop, and call asyncio.get_running_loop() where "
        "it needs the loop"
    ]
    for kwargs in ({"test_loop_scope": "function"}, {"target": "pytest-asyncio"}):
        new, reports = migrate(source, **kwargs)  # type: ignore[arg-type]
        assert new == dedent(source), kwargs
        assert f"{PATH}:5: client is a sync fixture that uses {NO_EVENT_LOOP}" in reports[0]


# -- rewrite 5: event_loop fixture overrides ------------------------------------------------------

SESSION_RECIPE = '''\
"""Fixtures."""
import asyncio

import pytest

# -- fixtures --

# One loop for the session.
@pytest.fixture(scope="session")
def event_loop():
    """Overrides pytest-asyncio's."""
    loop = asyncio.get_event_loop_policy().new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def settings():
    return {}
'''


def test_the_session_recipe_goes_with_its_attached_comment() -> None:
    new, reports = migrate(SESSION_RECIPE, path="tests/conftest.py")
    assert new == dedent(
        '''\
        """Fixtures."""

        import pytest

        # -- fixtures --


        @pytest.fixture
        def settings():
            return {}
        '''
    )
    assert reports == []


def test_the_recipe_with_get_event_loop_goes_too() -> None:
    # fastapi-users 10's session loop: the loop get_event_loop() makes for the fixture, closed by
    # it, is the recipe's new loop.
    recipe = SESSION_RECIPE.replace(
        "asyncio.get_event_loop_policy().new_event_loop()", "asyncio.get_event_loop()"
    )
    new, reports = migrate(recipe, path="tests/conftest.py")
    assert new == migrate(SESSION_RECIPE, path="tests/conftest.py")[0]
    assert reports == []
    # Not a loop got from elsewhere (a library's), nor one given arguments.
    for other in ("other_lib.get_event_loop()", "asyncio.get_event_loop(policy)"):
        left, reports = migrate(
            SESSION_RECIPE.replace("asyncio.get_event_loop_policy().new_event_loop()", other),
            path="tests/conftest.py",
        )
        assert "def event_loop():" in left
        assert [r.split(":", 2)[1] for r in reports] == ["10"]


def test_the_try_finally_recipe_of_any_scope_goes_with_a_note() -> None:
    new, reports = migrate(
        """\
        import asyncio

        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(scope="module")
        def event_loop(request):
            loop = asyncio.new_event_loop()
            try:
                yield loop
            finally:
                loop.close()


        @pytest.fixture
        def event_loop_two():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()
        """,
        path="tests/conftest.py",
    )
    assert new == dedent(
        """\
        import asyncio

        import pytest


        @pytest.fixture
        def event_loop_two():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()
        """
    )
    assert reports == [
        "note: tests/conftest.py:8: event_loop fixture (scope='module') removed: loopwarden's "
        "runner runs every test and fixture in one session loop by default; if the suite relied "
        "on a fresh loop per module, set loopwarden_loop = test (a fresh loop per test; fixtures "
        "wider than a test keep a loop of their own scope)"
    ]


def test_a_function_scoped_recipe_notes_loopwarden_loop_test() -> None:
    new, reports = migrate(
        """\
        import asyncio

        import pytest


        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()


        async def test_a():
            assert True
        """
    )
    assert new == "async def test_a():\n    assert True\n"
    assert reports == [
        f"note: {PATH}:7: event_loop fixture (scope='function') removed: loopwarden's runner runs "
        "every test and fixture in one session loop by default; if the suite relied on a fresh "
        "loop per test, set loopwarden_loop = test (a fresh loop per test; fixtures wider than a "
        "test keep a loop of their own scope)"
    ]


CUSTOM = """\
import asyncio

import pytest
import uvloop


@pytest.fixture(scope="session")
def event_loop():
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
"""


def test_any_other_body_is_left_and_reported() -> None:
    assert migrate(CUSTOM) == (
        CUSTOM,
        [
            f"{PATH}:8: event_loop fixture does more than make, yield and close a loop (a custom "
            "policy, uvloop, extra setup), so it was left as is: loopwarden's runner runs async "
            "tests on its own loops, never on this one, so the async tests and fixtures that "
            "asked for it now call asyncio.get_running_loop(), and sync tests keep it as a plain "
            "fixture. Move any setup it does for async tests into a fixture of their own; choose "
            "other loops (uvloop) with an event_loop_policy fixture or the "
            "pytest_asyncio_loop_factories hook, which loopwarden's runner honours (their loops "
            "run unguarded)"
        ],
    )
    assert migrate(CUSTOM, target="pytest-asyncio")[1] == [
        f"{PATH}:8: event_loop fixture does more than make, yield and close a loop (a custom "
        "policy, uvloop, extra setup), so it was left as is: pytest-asyncio 1.0 no longer runs "
        "async tests on an event_loop fixture, so the async tests and fixtures that asked for it "
        "now call asyncio.get_running_loop(), and sync tests keep it as a plain fixture. Move "
        "any setup it does for async tests into a fixture of their own; choose other loops with "
        "an event_loop_policy fixture or, from pytest-asyncio 1.4, the "
        "pytest_asyncio_loop_factories hook"
    ]


def test_the_recipe_stays_while_a_sync_test_of_the_module_uses_it() -> None:
    source = """\
        import asyncio

        import pytest


        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()


        def test_sync(event_loop):
            event_loop.call_soon(event_loop.stop)
            event_loop.run_forever()
        """
    new, reports = migrate(source)
    assert new == dedent(source)
    assert reports == [
        f"{PATH}:7: event_loop fixture kept, since something still asks for it: {PATH}:13 "
        "(test_sync); delete it once nothing does (see those entries)",
        f"{PATH}:13: test_sync is a sync test that uses pytest-asyncio's event_loop fixture "
        "(gone in pytest-asyncio 1.0; loopwarden's runner has none); not rewritten: make it "
        "`async def`, await what it runs on the loop, and call asyncio.get_running_loop() where "
        "it needs the loop",
    ]


def test_a_conftest_recipe_stays_while_a_test_below_it_uses_it_and_not_one_elsewhere() -> None:
    settings = Settings()
    conftest = analyze("tests/conftest.py", dedent(SESSION_RECIPE), settings)
    uses = "def test_s(event_loop):\n    assert not event_loop.is_closed()\n"
    user = analyze("tests/api/test_x.py", uses, settings)
    elsewhere = analyze("other/test_y.py", uses, settings)
    module = analyze("tests/test_z.py", "async def test_a():\n    pass\n", settings)
    stmt = conftest.overrides[0].stmt
    assert decide([conftest, user]) == {
        "tests/conftest.py": {stmt: "tests/api/test_x.py:1 (test_s)"}
    }
    assert decide([conftest, elsewhere, module]) == {"tests/conftest.py": {stmt: None}}
    finalize(conftest, {stmt: None}, settings)
    assert conftest.edits[stmt].remove


def test_target_pytest_asyncio_removes_the_recipe_and_asks_for_the_ini_keys() -> None:
    new, reports = migrate(SESSION_RECIPE, path="conftest.py", target="pytest-asyncio")
    assert new == dedent(
        '''\
        """Fixtures."""

        import pytest

        # -- fixtures --


        @pytest.fixture
        def settings():
            return {}
        '''
    )
    assert reports == [
        "note: conftest.py:10: event_loop fixture (scope='session') removed: pytest-asyncio 1.0 "
        "has no event_loop fixture; its scope goes into the pytest configuration: "
        "asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope = "
        "session"
    ]
    settings = Settings("pytest-asyncio", False, None, None)
    _, plan = migrate_source("conftest.py", dedent(SESSION_RECIPE), settings)
    assert plan.config_keys == {
        "asyncio_default_fixture_loop_scope": "session",
        "asyncio_default_test_loop_scope": "session",
    }
    # A value the project chose is not overwritten: a person decides.
    chosen = migrate(
        SESSION_RECIPE, path="conftest.py", target="pytest-asyncio", fixture_loop_scope="function"
    )
    assert chosen[1] == [
        "conftest.py:10: event_loop fixture (scope='session') removed: pytest-asyncio 1.0 has no "
        "event_loop fixture; its scope belongs in the pytest configuration, which says "
        "otherwise: asyncio_default_fixture_loop_scope = function (make it session); migrate "
        "does not overwrite a value you chose"
    ]
    configured = migrate(
        SESSION_RECIPE,
        path="conftest.py",
        target="pytest-asyncio",
        fixture_loop_scope="session",
        test_loop_scope="session",
    )
    assert configured == (
        new,
        [
            "note: conftest.py:10: event_loop fixture (scope='session') removed: the "
            "configuration already says that scope with asyncio_default_fixture_loop_scope and "
            "asyncio_default_test_loop_scope"
        ],
    )


def test_an_event_loop_policy_fixture_stays_with_a_note() -> None:
    # The own runner applies a project's event_loop_policy to the same tests as pytest-asyncio
    # (tests/plugin/test_runner.py), so nothing is left for a person.
    source = """\
        import asyncio

        import pytest


        @pytest.fixture(scope="session")
        def event_loop_policy():
            return asyncio.DefaultEventLoopPolicy()
        """
    assert migrate(source) == (
        dedent(source),
        [
            f"note: {PATH}:7: event_loop_policy fixture kept: loopwarden's runner applies it to "
            "the same tests as pytest-asyncio does; a test that gets asyncio's own policy runs "
            "on loopwarden's loop, one that gets another (uvloop's) on a loop that policy makes, "
            "unguarded"
        ],
    )
    assert migrate(source, target="pytest-asyncio") == (dedent(source), [])


POLICY_RECIPE = """\
import asyncio

import pytest
import uvloop


@pytest.fixture(scope="session", params=["asyncio", "uvloop"])
def event_loop_policy(request):
    if request.param == "uvloop":
        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture
def event_loop(event_loop_policy):
    loop = event_loop_policy.new_event_loop()
    yield loop
    loop.close()


async def test_a(event_loop):
    assert event_loop.is_running()
"""


@pytest.mark.parametrize("target", ["loopwarden", "pytest-asyncio"])
def test_the_recipe_on_the_projects_policy_goes_and_the_policy_stays(target: str) -> None:
    # pytest-asyncio 0.23's own recipe: the loop comes from the event_loop_policy fixture, which
    # both targets apply to the same tests, so the override says nothing they do not.
    new, _ = migrate(POLICY_RECIPE, target=target)
    assert "def event_loop(" not in new
    assert "def event_loop_policy(request):" in new
    assert "assert asyncio.get_running_loop().is_running()" in new
    # Not another object's new_event_loop(), nor a policy the fixture does not ask for.
    for other in ("uvloop.EventLoopPolicy().new_event_loop()", "policy.new_event_loop()"):
        left, _ = migrate(POLICY_RECIPE.replace("event_loop_policy.new_event_loop()", other))
        assert "def event_loop(event_loop_policy):" in left
    unasked = POLICY_RECIPE.replace("def event_loop(event_loop_policy):", "def event_loop():")
    assert "def event_loop():" in migrate(unasked)[0]


# -- all at once, and twice -----------------------------------------------------------------------


def test_a_021_module_migrates_whole_and_a_second_run_changes_nothing() -> None:
    source = """\
        import asyncio

        import pytest
        import pytest_asyncio

        pytestmark = pytest.mark.asyncio


        @pytest.fixture(scope="session")
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()


        @pytest_asyncio.fixture(scope="session")
        async def queue(event_loop):
            return asyncio.Queue()


        @pytest.mark.asyncio
        async def test_put(queue, event_loop):
            await queue.put(event_loop.time())
            assert queue.qsize() == 1
        """
    new, reports = migrate(source)
    assert new == dedent(
        """\
        import asyncio

        import pytest


        @pytest.fixture(scope="session")
        async def queue():
            return asyncio.Queue()


        async def test_put(queue):
            await queue.put(asyncio.get_running_loop().time())
            assert queue.qsize() == 1
        """
    )
    assert reports == []
    assert migrate(new) == (new, [])


def test_a_file_that_does_not_parse_is_left_alone_with_the_reason() -> None:
    source = "import pytest_asyncio\n\ndef test_a(:\n    pass\n"
    new, reports = migrate(source)
    assert new == source
    assert reports == [f"{PATH}: not Python 3 we can parse: invalid syntax at line 3; left alone"]


HANDS_OUT = """\
import asyncio

import pytest


@pytest.fixture
def loop(event_loop):
    return event_loop


@pytest.fixture(scope="session")
def client(event_loop):
    client = object()
    yield client, event_loop


@pytest.fixture
def drives(event_loop):
    return event_loop.run_until_complete(asyncio.sleep(0)) or event_loop.stop()


@pytest.fixture
def later(event_loop):
    return lambda: event_loop.time()
"""


def test_a_sync_fixture_that_hands_out_the_loop_becomes_async() -> None:
    """aiorwlock's conftest: ``def loop(event_loop): return event_loop`` stood between 45 tests
    and the own runner ("fixture 'event_loop' not found"). As an async fixture it runs in the
    loop it hands out. One that drives the loop, or reads it where no loop may run, stays."""
    new, reports = migrate(HANDS_OUT)
    assert new == dedent(
        """\
        import asyncio

        import pytest


        @pytest.fixture
        async def loop():
            return asyncio.get_running_loop()


        @pytest.fixture(scope="session")
        async def client():
            client = object()
            yield client, asyncio.get_running_loop()


        @pytest.fixture
        def drives(event_loop):
            return event_loop.run_until_complete(asyncio.sleep(0)) or event_loop.stop()


        @pytest.fixture
        def later(event_loop):
            return lambda: event_loop.time()
        """
    )
    assert [r.split(": ", 1)[0] for r in reports] == [f"{PATH}:18", f"{PATH}:23"]
    # pytest-asyncio in strict mode runs an async fixture only under its own decorator.
    strict, strict_reports = migrate(HANDS_OUT, target="pytest-asyncio", strict=True)
    assert strict == dedent(
        """\
        import asyncio

        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture
        async def loop():
            return asyncio.get_running_loop()


        @pytest.fixture(scope="session")
        def client(event_loop):
            client = object()
            yield client, event_loop


        @pytest.fixture
        def drives(event_loop):
            return event_loop.run_until_complete(asyncio.sleep(0)) or event_loop.stop()


        @pytest.fixture
        def later(event_loop):
            return lambda: event_loop.time()
        """
    )
    # A fixture wider than a test needs loop_scope= too (else ScopeMismatch): the scope of the
    # event_loop override it ran on, and none reaches it here (test_loop_scope.py has the rest).
    assert [r.split(": ", 1)[0] for r in strict_reports] == [
        f"{PATH}:12",
        f"{PATH}:18",
        f"{PATH}:23",
    ]
    assert strict_reports[0] == (
        f"{PATH}:12: client is a sync fixture wider than a test (scope='session') that uses "
        "pytest-asyncio's event_loop fixture (gone in pytest-asyncio 1.0; loopwarden's runner "
        "has none); not rewritten: no event_loop fixture override reaches it in the files read, "
        "so the loop its tests ran in is unknown (pytest-asyncio 0.21's own event_loop is "
        "function-scoped, too narrow for it); make it `async def` with "
        "@pytest_asyncio.fixture(scope='session', loop_scope=<the scope of the event_loop "
        "fixture it used: the loop its tests run in>), await what it runs on the loop, and call "
        "asyncio.get_running_loop() where it needs the loop"
    )


def test_the_finalizers_comments_move_with_it() -> None:
    new, reports = migrate(
        """\
        import pytest


        @pytest.fixture
        def server(request, event_loop):
            s = event_loop.run_until_complete(start())
            # Closed after the test.
            def close():  # even after a failed test
                s.close()
                # TODO: remove the spool folder
            request.addfinalizer(close)  # registered before the return
            return s  # the server
        """
    )
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture
        async def server(request):
            s = await start()
            # registered before the return
            yield s  # the server
            # Closed after the test.
            # even after a failed test
            s.close()
            # TODO: remove the spool folder
        """
    )
    assert reports == []


def test_a_module_pytest_does_not_collect_holds_no_tests() -> None:
    # pytest collects test_*.py and *_test.py by default: in helpers.py, test_like is a helper.
    source = "async def test_like(event_loop):\n    return event_loop\n"
    new, reports = migrate(source, path="tests/helpers.py")
    assert new == source
    assert reports == [
        "note: tests/helpers.py:1: test_like takes event_loop but is not a test (its module is "
        "not a test module by python_files (test_*.py, *_test.py)) nor a fixture; left as it "
        "is, as its callers pass the loop. If pytest does collect it as a test, make it `async "
        "def` and use asyncio.get_running_loop() instead"
    ]
    new, reports = migrate(source, path="tests/check_x.py", python_files=("check_*.py",))
    assert (
        new == "import asyncio\n\nasync def test_like():\n    return asyncio.get_running_loop()\n"
    )
    assert reports == []


def test_async_iterator_under_type_checking_is_used_when_annotations_are_lazy() -> None:
    body = """\
        @pytest.fixture
        def server(request, event_loop) -> Server:
            s = event_loop.run_until_complete(start())

            def close():
                event_loop.run_until_complete(s.aclose())

            request.addfinalizer(close)
            return s
        """
    lazy = (
        "from __future__ import annotations\n\nfrom typing import TYPE_CHECKING\n\nimport pytest\n"
        "\nif TYPE_CHECKING:\n    from collections.abc import AsyncIterator\n\n\n"
    )
    new, _ = migrate(lazy + dedent(body))
    assert new.count("AsyncIterator") == 2  # the import under TYPE_CHECKING, the annotation
    eager = lazy.replace("from __future__ import annotations\n\n", "")
    new, _ = migrate(eager + dedent(body))
    assert new.startswith("from collections.abc import AsyncIterator\n")  # evaluated at def time
