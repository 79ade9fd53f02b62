"""pytest-asyncio's port fixtures, for suites the own runner runs in its place.

``unused_tcp_port``, ``unused_udp_port`` and their ``_factory`` forms mean what they mean under
pytest-asyncio: a port free on 127.0.0.1 when asked for; a factory never returns the same port
twice in a session. Registered by the own runner only (pytest-asyncio has its own).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest


def _unused_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _factory(kind: socket.SocketKind) -> Callable[[], int]:
    produced: set[int] = set()

    def factory() -> int:
        port = _unused_port(kind)
        while port in produced:
            port = _unused_port(kind)
        produced.add(port)
        return port

    return factory


@pytest.fixture
def unused_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 (pytest-asyncio's fixture, for the own runner)."""
    return _unused_port(socket.SOCK_STREAM)


@pytest.fixture(scope="session")
def unused_tcp_port_factory() -> Callable[[], int]:
    """A function returning a free TCP port, never the same one twice in the session."""
    return _factory(socket.SOCK_STREAM)


@pytest.fixture
def unused_udp_port() -> int:
    """A UDP port free on 127.0.0.1 (pytest-asyncio's fixture, for the own runner)."""
    return _unused_port(socket.SOCK_DGRAM)


@pytest.fixture(scope="session")
def unused_udp_port_factory() -> Callable[[], int]:
    """A function returning a free UDP port, never the same one twice in the session."""
    return _factory(socket.SOCK_DGRAM)
