"""Every setting is an ini key and a flag; bad values are usage errors that name the fix."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--lw-loop=module"],
            "",
            "ERROR: loopwarden: --lw-loop = 'module' is not valid; allowed values: session, test.",
        ),
        (
            ["--lw-virtual-peer-wait=soon"],
            "",
            "ERROR: loopwarden: --lw-virtual-peer-wait = 'soon' is not valid; expected a number "
            "of seconds, e.g. 30 or 0.5 (0 turns it off).",
        ),
        (
            [],
            "loopwarden_mode = sometimes\n",
            "ERROR: loopwarden: loopwarden_mode = 'sometimes' is not valid; allowed values: "
            "auto, strict.",
        ),
        (
            [],
            "asyncio_mode = lazy\n",
            "ERROR: loopwarden: asyncio_mode = 'lazy' is not valid; allowed values: auto, strict.",
        ),
        (
            [],
            "asyncio_default_test_loop_scope = everything\n",
            "ERROR: loopwarden: asyncio_default_test_loop_scope = 'everything' is not valid; "
            "allowed values: function, class, module, package, session.",
        ),
    ],
)
def test_invalid_values_are_usage_errors(pytester, own, args, ini, message):
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile("def test_it():\n    pass\n")
    result = own(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_flag_beats_ini(pytester, own):
    pytester.makeini("[pytest]\nloopwarden_loop = test\n")
    pytester.makepyfile("def test_it():\n    pass\n")
    result = own("--lw-loop=session")
    result.stdout.fnmatch_lines(["loopwarden 0.1.0: own runner (*); mode=auto, loop=session"])


def test_conflicting_mode_settings_warn(pytester, own):
    pytester.makeini("[pytest]\nloopwarden_mode = auto\nasyncio_mode = strict\n")
    pytester.makepyfile("async def test_it():\n    pass\n")
    result = own()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestConfigWarning: loopwarden: loopwarden_mode = auto and asyncio_mode = strict "
            "disagree; loopwarden uses auto. Remove asyncio_mode (it is pytest-asyncio's setting) "
            "to silence this.",
        ]
    )


def test_pytest_asyncio_keys_are_known_without_pytest_asyncio(pytester, own):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\nasyncio_debug = true\n"
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_debug():
            assert asyncio.get_running_loop().get_debug()
        """
    )
    result = own("--strict-config", "--asyncio-mode=auto")
    result.assert_outcomes(passed=1)


def test_help_lists_every_setting(pytester, own):
    result = own("--help")
    result.stdout.fnmatch_lines(
        [
            "loopwarden: asyncio tests you can trust:",
            "  --lw-mode=MODE*",
            "  --lw-loop=LOOP*",
        ]
    )


def test_settings_are_resolved_once_typed_with_their_sources(pytester):
    from loopwarden._plugin import _settings

    pytester.makeini("[pytest]\nloopwarden_blocking = 0.25\nloopwarden_virtual_time = on\n")
    config = pytester.parseconfigure("--lw-timeout=2.5", "--lw-fuzz-runs=3", "-p", "no:asyncio")
    chosen = _settings.settings(config)
    assert chosen is _settings.settings(config)  # once per session
    assert (chosen.timeout, chosen.blocking, chosen.fuzz_runs, chosen.fuzz_seed) == (
        2.5,
        0.25,
        3,
        None,
    )
    assert (chosen.virtual_time, chosen.leaks, chosen.leaks_stacks) == (True, "error", False)
    assert (
        chosen.source("timeout"),
        chosen.source("blocking"),
        chosen.source("leaks"),
    ) == ("--lw-timeout", "loopwarden_blocking", "default")


def test_loopwardens_modules_skip_assertion_rewriting_and_the_tests_keep_it(pytester, own):
    # pytest marks every package of a plugin's distribution for rewriting; loading loopwarden's
    # modules through that hook was a third of its start-up. The test's own asserts must still
    # be rewritten (the detailed message below), and pytest must not warn about it. (Whether
    # pytest marks the package at all depends on its version and on how loopwarden is
    # installed: an editable install lists no files to older pytests. Either way, nothing
    # after the plugin package's first module loads through the hook.)
    pytester.makepyfile(
        test_modules="""
        import sys

        def test_loaders():
            hooked = {
                name
                for name, module in sys.modules.items()
                if name.startswith("loopwarden.")
                and type(getattr(module, "__loader__", None)).__name__ == "AssertionRewritingHook"
            }
            # At most what loads before loopwarden can say so: the package (with its version)
            # and the plugin package's first module.
            early = {"loopwarden._plugin", "loopwarden._plugin._compat", "loopwarden._version"}
            assert hooked <= early
            assert "loopwarden._plugin.leaks" in sys.modules

        def test_rewritten():
            numbers = [1, 2]
            assert numbers == [1, 3]
        """
    )
    result = own("-W", "error::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E       assert [1, 2] == [1, 3]", "E         At index 1 diff: 2 != 3"]
    )
