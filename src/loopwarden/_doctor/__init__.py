"""``loopwarden doctor``: lint a suite, run it with every instrument on, and say what to fix.

Modules: ``_command`` (arguments and the phases), ``_runs`` (the pytest subprocesses and their
records), ``_diagnosis`` (records → prioritised problems, the JSON document), ``_text`` (the
terminal summary), ``_html`` (the self-contained HTML report).
"""
