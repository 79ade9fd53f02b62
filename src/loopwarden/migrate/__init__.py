"""``loopwarden migrate``: move a pytest-asyncio suite (0.21 or 1.x) to loopwarden's own runner.

Layout (every module is private; the command line is the interface)::

    _command.py   argparse wiring and the run: discovery -> analyse -> decide -> rewrite -> report
    _model.py     plans (what to change, by statement), reports (what needs a person)
    _analyze.py   one ``ast`` pass per file: every change and every report, with its line
    _sleep.py     a patched asyncio.sleep -> virtual time (--unsafe-fixes), planned per file,
                  settled across files
    _rewrite.py   libcst: applies a plan by walking to the planned statements only
    _runner.py    the trigger words, the process pool, what is decided across files (the
                  event_loop overrides, the loop scope of wide fixtures, the sleeps)
    _project.py   pytest configuration, dependency lists, and the git work tree check
    _config_edit.py  setting keys in a pytest configuration file, its format kept (tomlkit,
                  configupdater)
    _report.py    the summary: changes per kind, places for a person, notes

Files without one of the trigger words (``pytest_asyncio``, ``event_loop``, ``mark.asyncio``) are
never parsed. The analysis uses :mod:`ast` (fast, with line numbers); libcst, which keeps the
formatting and the comments, parses only the files that change, and its tree is edited along the
paths of the planned statements rather than visited whole (a full libcst visit costs several times
its parse).
"""
