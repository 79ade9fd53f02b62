"""The gateway's side of the protocol, for the tests' WebSocket server."""

from __future__ import annotations

from typing import Any


def answer(message: Any) -> Any:
    """The gateway's side of the protocol: accept any token, echo requests."""
    if not isinstance(message, dict):
        return None
    if message.get("type") == "connect":
        return {"type": "connected"}
    if message.get("method") == "echo":
        return {"id": message["id"], "result": message["params"]}
    if "id" in message:
        return {"id": message["id"], "error": f"unknown method {message.get('method')!r}"}
    return None
