"""The ``loopwarden`` command."""
