"""The engine: instrumented event loops. Never imports pytest."""
