"""Database isolation for async SQLAlchemy test suites, without pytest.

- :mod:`._postgres`: a throwaway PostgreSQL server from the system's own binaries (no Docker).
- :mod:`._reaper`: the small supervisor process that stops that server and removes its files
  when the test process ends, however it ends.
- :mod:`._isolation`: one engine per event loop, the schema built once, and per-test transactions
  with SAVEPOINTs that code under test may commit.

The pytest adapter is :mod:`loopwarden._plugin.db`.
"""
