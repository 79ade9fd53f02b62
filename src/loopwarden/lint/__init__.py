"""``loopwarden lint``: a static checker for async-test anti-patterns."""
