"""Rewrites 1 and 2: ``@pytest_asyncio.fixture`` -> ``@pytest.fixture``, the asyncio marker goes.

Each case compares the whole migrated text, and the whole text of every report.
"""

from __future__ import annotations

from ._helpers import PATH, dedent, migrate

# -- rewrite 1: fixtures --------------------------------------------------------------------------


def test_bare_fixture_decorator_becomes_pytest_fixture_and_imports_follow() -> None:
    new, reports = migrate(
        """\
        import pytest_asyncio


        @pytest_asyncio.fixture
        async def client():
            yield 1
        """
    )
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture
        async def client():
            yield 1
        """
    )
    assert reports == []


def test_fixture_arguments_are_kept_and_a_loop_scope_equal_to_the_scope_is_dropped() -> None:
    new, reports = migrate(
        """\
        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(scope="module", params=[1, 2], ids=["a", "b"], name="db", autouse=True, loop_scope="module")
        async def database(request):
            yield request.param
        """  # noqa: E501
    )
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture(scope="module", params=[1, 2], ids=["a", "b"], name="db", autouse=True)
        async def database(request):
            yield request.param
        """
    )
    assert reports == []


def test_loop_scope_of_the_default_or_none_is_dropped_with_the_parentheses() -> None:
    new, reports = migrate(
        """\
        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(loop_scope="function")
        async def a():
            return 1


        @pytest_asyncio.fixture(loop_scope=None)
        async def b():
            return 2


        @pytest_asyncio.fixture()
        async def c():
            return 3
        """
    )
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture
        async def a():
            return 1


        @pytest.fixture
        async def b():
            return 2


        @pytest.fixture()
        async def c():
            return 3
        """
    )
    assert reports == []


def test_loop_scope_equal_to_the_configured_default_is_dropped() -> None:
    source = """\
        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(loop_scope="session")
        async def a():
            return 1
        """
    new, reports = migrate(source, fixture_loop_scope="session")
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture
        async def a():
            return 1
        """
    )
    assert reports == []
    # Without that configuration the same fixture is left for a person (next test).
    assert migrate(source)[0] == dedent(source)


def test_a_loop_scope_other_than_scope_or_default_is_left_and_reported() -> None:
    source = """\
        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(loop_scope="session")
        async def engine():
            yield 1


        @pytest_asyncio.fixture(scope="module", loop_scope="session")
        async def pool():
            yield 2
        """
    new, reports = migrate(source)
    assert new == dedent(source)
    assert reports == [
        f"{PATH}:5: loop_scope='session' on a function-scoped fixture: loopwarden's runner shares "
        "the session loop by default; check the fixture does not rely on its own loop, then "
        "write @pytest.fixture without loop_scope (left as is)",
        f"{PATH}:10: loop_scope='session' on a module-scoped fixture: loopwarden's runner shares "
        "the session loop by default; check the fixture does not rely on its own loop, then "
        "write @pytest.fixture without loop_scope (left as is)",
    ]


def test_multiline_arguments_keep_their_layout_and_comments() -> None:
    new, reports = migrate(
        """\
        import pytest_asyncio


        @pytest_asyncio.fixture(  # the shared one
            scope="module",
            loop_scope="module",
        )
        async def shared():
            yield 1
        """
    )
    assert new == dedent(
        """\
        import pytest


        @pytest.fixture(  # the shared one
            scope="module",
        )
        async def shared():
            yield 1
        """
    )
    assert reports == []


def test_from_import_and_aliases_are_followed() -> None:
    new, reports = migrate(
        """\
        import pytest as pt
        from pytest_asyncio import fixture
        import pytest_asyncio as pa


        @fixture
        async def a():
            return 1


        @pa.fixture(scope="session")
        async def b():
            return 2
        """
    )
    assert new == dedent(
        """\
        import pytest as pt


        @pt.fixture
        async def a():
            return 1


        @pt.fixture(scope="session")
        async def b():
            return 2
        """
    )
    assert reports == []


def test_other_pytest_asyncio_names_stay_imported_and_are_reported() -> None:
    new, reports = migrate(
        """\
        import pytest
        from pytest_asyncio import fixture, is_async_test


        @fixture
        async def a():
            return 1


        def pytest_collection_modifyitems(items):
            for item in items:
                if is_async_test(item):
                    item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
        """
    )
    assert new == dedent(
        """\
        import pytest
        from pytest_asyncio import is_async_test


        @pytest.fixture
        async def a():
            return 1


        def pytest_collection_modifyitems(items):
            for item in items:
                if is_async_test(item):
                    item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
        """
    )
    assert reports == [
        f"{PATH}:12: is_async_test is pytest-asyncio's and still used here (the usual hook that "
        "marks every async test with loop_scope='session' is not needed: loopwarden's runner "
        "runs them all in the session loop by default); loopwarden's runner does not need "
        "pytest-asyncio: replace this use, or keep pytest-asyncio installed and run with "
        "-p no:asyncio",
    ]


def test_pytest_plugins_naming_pytest_asyncio_is_reported() -> None:
    source = 'pytest_plugins = ["pytest_asyncio", "pytester"]\n'
    new, reports = migrate(source)
    assert new == source
    assert reports == [
        f"{PATH}:1: pytest_plugins loads 'pytest_asyncio': loopwarden's runner does not need "
        "pytest-asyncio; remove it from pytest_plugins"
    ]


def test_fixtures_are_left_alone_for_target_pytest_asyncio() -> None:
    source = """\
        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture(loop_scope="session")
        async def engine():
            yield 1


        @pytest.mark.asyncio
        async def test_a(engine):
            assert engine
        """
    assert migrate(source, target="pytest-asyncio") == (dedent(source), [])


def test_an_unrelated_fixture_attribute_is_not_touched() -> None:
    source = """\
        import pytest
        import other


        @other.fixture
        async def a():
            return 1


        @pytest.fixture
        async def b():
            return 2
        """
    assert migrate(source) == (dedent(source), [])


# -- rewrite 2: markers ---------------------------------------------------------------------------


def test_bare_markers_go_on_functions_and_classes_with_comments_kept() -> None:
    new, reports = migrate(
        """\
        import pytest


        # Talks to the bus.
        @pytest.mark.asyncio  # (needed by pytest-asyncio)
        # keep it slow
        @pytest.mark.slow
        async def test_bus():
            assert True


        @pytest.mark.asyncio()
        class TestApi:
            async def test_get(self):
                assert True
        """
    )
    assert new == dedent(
        """\
        import pytest


        # Talks to the bus.
        # keep it slow
        @pytest.mark.slow
        async def test_bus():
            assert True


        class TestApi:
            async def test_get(self):
                assert True
        """
    )
    assert reports == []


def test_pytestmark_goes_or_loses_its_asyncio_element() -> None:
    new, reports = migrate(
        """\
        import pytest

        pytestmark = pytest.mark.asyncio


        class TestA:
            pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

            async def test_a(self):
                assert True


        class TestB:
            pytestmark = [
                pytest.mark.asyncio,
                pytest.mark.slow,
            ]

            async def test_b(self):
                assert True


        class TestC:
            pytestmark = (pytest.mark.asyncio,)

            async def test_c(self):
                assert True
        """
    )
    assert new == dedent(
        """\
        import pytest


        class TestA:
            pytestmark = [pytest.mark.slow]

            async def test_a(self):
                assert True


        class TestB:
            pytestmark = [
                pytest.mark.slow,
            ]

            async def test_b(self):
                assert True


        class TestC:
            async def test_c(self):
                assert True
        """
    )
    assert reports == []


def test_marker_imported_from_pytest_goes_with_its_import() -> None:
    new, reports = migrate(
        """\
        from pytest import mark


        @mark.asyncio
        async def test_a():
            assert True
        """
    )
    assert new == dedent(
        """\
        async def test_a():
            assert True
        """
    )
    assert reports == []


def test_import_pytest_goes_when_the_marker_was_its_only_use() -> None:
    new, reports = migrate(
        """\
        import os

        import pytest


        @pytest.mark.asyncio
        async def test_a():
            assert os.sep
        """
    )
    assert new == dedent(
        """\
        import os


        async def test_a():
            assert os.sep
        """
    )
    assert reports == []


def test_markers_with_loop_scope_are_kept_and_reported() -> None:
    source = """\
        import pytest

        pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]


        @pytest.mark.asyncio(loop_scope="module")
        async def test_a():
            assert True


        @pytest.mark.asyncio(loop_factories=["uvloop"])
        async def test_b():
            assert True
        """
    new, reports = migrate(source)
    assert new == dedent(source)
    assert reports == [
        f"{PATH}:3: pytestmark = pytest.mark.asyncio(loop_scope='session') kept: loopwarden's "
        "runner already runs every async test in one session loop by default (loopwarden_loop = "
        "session), so it can go; if the suite sets loopwarden_loop = test or "
        "asyncio_default_test_loop_scope, write @pytest.mark.loopwarden(loop_scope='session') "
        "instead",
        f"{PATH}:6: @pytest.mark.asyncio(loop_scope='module') kept: loopwarden's runner honours "
        "it (this test runs in a module-scoped loop) but runs everything else in one session "
        "loop by default, and a test whose async fixtures run in another loop fails at setup; "
        "delete it if the test only needs a shared loop, or write "
        "@pytest.mark.loopwarden(loop_scope='module') to keep it without pytest-asyncio's marker",
        f"note: {PATH}:11: @pytest.mark.asyncio(loop_factories=['uvloop']) kept: loopwarden's "
        "runner honours loop_factories= as pytest-asyncio does (the test runs once per factory "
        "it names from the project's pytest_asyncio_loop_factories hook; a factory that makes "
        "another loop than asyncio's runs unguarded)",
    ]


def test_markers_stay_in_strict_mode_and_for_target_pytest_asyncio() -> None:
    source = """\
        import pytest

        pytestmark = pytest.mark.asyncio


        @pytest.mark.asyncio
        async def test_a():
            assert True
        """
    assert migrate(source, strict=True) == (dedent(source), [])
    assert migrate(source, target="pytest-asyncio") == (dedent(source), [])


def test_a_marker_on_a_fixture_goes_for_either_target_and_in_strict_mode() -> None:
    # A mark on a fixture does nothing; pytest 9 refuses to collect its module (fastapi-users
    # 10: "Marks cannot be applied to fixtures"), which --target pytest-asyncio left as it was.
    source = """\
        import pytest


        @pytest.fixture
        @pytest.mark.asyncio
        async def client():
            return 1


        @pytest.mark.asyncio
        @pytest.fixture(scope="module")
        def settings():
            return {}


        @pytest.mark.asyncio
        async def test_a(client, settings):
            assert client == 1
        """
    without = """\
        import pytest


        @pytest.fixture
        async def client():
            return 1


        @pytest.fixture(scope="module")
        def settings():
            return {}


        @pytest.mark.asyncio
        async def test_a(client, settings):
            assert client == 1
        """
    # The test's own marker stays where the target's mode needs it.
    assert migrate(source, target="pytest-asyncio") == (dedent(without), [])
    assert migrate(source, strict=True) == (dedent(without), [])
    assert migrate(source)[0] == dedent(without).replace(
        "@pytest.mark.asyncio\nasync def test_a", "async def test_a"
    )


def test_other_markers_named_asyncio_are_not_pytests() -> None:
    source = """\
        import pytest
        import other


        @other.mark.asyncio
        @pytest.mark.asyncio_cooperative
        async def test_a():
            assert True
        """
    assert migrate(source) == (dedent(source), [])


def test_statements_are_found_in_if_blocks_semicolon_lines_and_one_line_classes() -> None:
    new, reports = migrate(
        """\
        import sys

        import pytest

        x = 1; pytestmark = pytest.mark.asyncio; y = 2


        class TestOne: pytestmark = pytest.mark.asyncio; z = 3


        class TestOuter:
            class TestInner:
                @pytest.mark.asyncio
                async def test_in(self):
                    assert x


        if sys.version_info >= (3, 12):
            @pytest.mark.asyncio
            async def test_new():
                assert y
        elif sys.version_info >= (3, 11):
            if True:
                @pytest.mark.asyncio
                async def test_mid():
                    assert y
        else:
            pytestmark = [pytest.mark.asyncio]
        """
    )
    assert new == dedent(
        """\
        import sys

        x = 1; y = 2


        class TestOne: z = 3


        class TestOuter:
            class TestInner:
                async def test_in(self):
                    assert x


        if sys.version_info >= (3, 12):
            async def test_new():
                assert y
        elif sys.version_info >= (3, 11):
            if True:
                async def test_mid():
                    assert y
        else:
            pass
        """
    )
    assert reports == []


def test_a_marker_with_an_argument_loopwarden_does_not_read_is_kept_and_reported() -> None:
    source = """\
        import pytest


        @pytest.mark.asyncio(loop_factories=["uvloop"], debug=True)
        async def test_a():
            assert True
        """
    assert migrate(source) == (
        dedent(source),
        [
            f"{PATH}:4: @pytest.mark.asyncio(loop_factories=['uvloop'], debug=True) kept: "
            "loopwarden's runner reads loop_scope= and loop_factories= from pytest-asyncio's "
            "marker, not debug=; delete those arguments"
        ],
    )


def test_a_marker_with_factories_and_a_scope_is_kept_for_its_factories() -> None:
    # Advice to delete the marker, or to write loopwarden's own instead, would drop the
    # factories: loopwarden's runner reads them from pytest-asyncio's marker only.
    source = """\
        import pytest


        @pytest.mark.asyncio(loop_scope="module", loop_factories=["uvloop"])
        async def test_a():
            assert True


        @pytest.mark.asyncio(loop_scope="session", loop_factories=["uvloop"])
        async def test_b():
            assert True
        """
    kept = (
        "kept: loopwarden's runner honours loop_factories= as pytest-asyncio does, and "
        "loop_scope= (this test runs in a {0}-scoped loop); keep the marker for its factories. "
        "loopwarden runs everything else in one session loop by default, so a test whose async "
        "fixtures run in another loop fails at setup: drop only loop_scope= if the test just "
        "needs a shared loop"
    )
    assert migrate(source) == (
        dedent(source),
        [
            f"{PATH}:4: @pytest.mark.asyncio(loop_scope='module', loop_factories=['uvloop']) "
            + kept.format("module"),
            f"note: {PATH}:9: @pytest.mark.asyncio(loop_scope='session', "
            "loop_factories=['uvloop']) " + kept.format("session"),
        ],
    )
