"""``loopwarden lint``: a static checker for async-test anti-patterns, with fixes.

Layout (every module is private; the command line and the rule codes are the interface)::

    _command.py   argparse wiring and the run: discovery -> check -> report / fix
    _config.py    [tool.loopwarden.lint] and flag precedence; usage errors (exit 2)
    _files.py     which files: git ls-files, or a .gitignore matcher; --exclude
    _runner.py    read, parse once, check, noqa, fix; process pool for many files
    _checker.py   the single traversal and the dispatch to rules (by node type, by callee)
    _noqa.py      which findings a `# noqa` silences (and other linters' codes for a rule)
    _semantic.py  the shared semantic model: canonical names, bindings, scope stack
    _fix.py       libcst: one combined transformer per file (imported only to fix)
    _report.py    text, json, sarif, github
    rules/        one module per rule code (lw101_blocking_call.py, ...)

It reads files with :mod:`ast` and never imports or runs the code it checks.
"""
