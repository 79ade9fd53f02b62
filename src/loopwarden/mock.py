"""Mocks shaped like the real async APIs, so that a wrong shape fails loudly.

The usual advice for aiohttp — ``session.get = AsyncMock(return_value=response)`` — breaks the
code it is meant to test: aiohttp's ``session.get(...)`` is not a coroutine function; it returns,
synchronously, an object that is both awaitable and an async context manager, and production code
writes ``async with session.get(url) as response``. An ``AsyncMock`` returns a coroutine, which
has no ``__aenter__``: the test fails with ``TypeError: 'coroutine' object does not support the
asynchronous context manager protocol`` — or, worse, the mock is adjusted until it passes and no
longer says anything about the real call.

- :func:`async_context_manager` builds the object aiohttp (and many clients) return: awaitable
  *and* usable with ``async with``.
- :func:`mock_aiohttp_session` builds a stand-in for :class:`aiohttp.ClientSession` from the real
  class (``create_autospec``), so a misspelt method or a wrong argument fails, and its request
  methods have aiohttp's real call shapes.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from unittest import mock

__all__ = ["MockResponse", "async_context_manager", "mock_aiohttp_session"]

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class _AwaitableContext:
    """What ``session.get(...)`` returns in aiohttp: awaitable, and an async context manager."""

    def __init__(self, value: Any, raises: BaseException | None) -> None:
        self._value = value
        self._raises = raises
        self.entered = False
        self.exited = False

    def _result(self) -> Any:
        if self._raises is not None:
            raise self._raises
        return self._value

    def __await__(self) -> Any:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self._result()

    async def __aenter__(self) -> Any:
        self.entered = True
        return self._result()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exited = True
        release = getattr(self._value, "release", None)
        if release is not None and callable(release):
            result = release()
            if hasattr(result, "__await__"):
                await result


def async_context_manager(returns: Any = None, *, raises: BaseException | None = None) -> Any:
    """An object usable both as ``await obj`` and ``async with obj as value``.

    Use it as the ``return_value`` of a *plain* ``Mock``/``MagicMock`` standing in for a method
    that returns such an object synchronously (aiohttp's ``session.get``, ``ws_connect``,
    ``aiofiles.open``…)::

        session.get = MagicMock(return_value=async_context_manager(returns=response))

    Args:
        returns: what ``await`` returns and ``async with … as`` binds.
        raises: raise this instead (at ``await`` or on entering the ``async with``).
    """
    return _AwaitableContext(returns, raises)


class MockResponse:
    """A canned response: status, headers and body; turned into an autospecced ClientResponse."""

    def __init__(
        self,
        *,
        status: int = 200,
        json: Any = None,
        text: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if sum(x is not None for x in (json, text, body)) > 1:
            raise ValueError("MockResponse takes one of json=, text= or body=, not several")
        self.status = status
        self.headers = dict(headers or {})
        if json is not None:
            self.body = _json.dumps(json).encode()
            self.headers.setdefault("Content-Type", "application/json")
        elif text is not None:
            self.body = text.encode()
            self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            self.body = body or b""


def _response(spec: MockResponse, method: str, url: str) -> Any:
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    response = mock.create_autospec(aiohttp.ClientResponse, instance=True)
    response.status = spec.status
    response.ok = spec.status < 400
    response.method = method
    response.url = URL(url)
    response.headers = CIMultiDictProxy(CIMultiDict(spec.headers))
    response.content_type = spec.headers.get("Content-Type", "application/octet-stream").split(";")[
        0
    ]
    body = spec.body
    response.read.side_effect = None
    response.read.return_value = body
    response.text.return_value = body.decode()

    async def json(*, loads: Any = _json.loads, **_: Any) -> Any:
        return loads(body.decode())

    response.json.side_effect = json

    def raise_for_status() -> None:
        if spec.status >= 400:
            raise aiohttp.ClientResponseError(
                mock.Mock(real_url=URL(url)), (), status=spec.status, message="mocked error"
            )

    response.raise_for_status.side_effect = raise_for_status
    return response


def mock_aiohttp_session(
    responses: Mapping[str | tuple[str, str], MockResponse | BaseException | Any] | None = None,
) -> Any:
    """A stand-in for :class:`aiohttp.ClientSession` with aiohttp's real call shapes.

    ``session.get(url)`` (and ``post``, ``put``, ``patch``, ``delete``, ``head``, ``options``,
    ``request(method, url)``) returns, synchronously, an object usable both as
    ``await session.get(url)`` and ``async with session.get(url) as response`` — as aiohttp
    does. The session and each response are ``create_autospec`` of the real classes: an attribute
    aiohttp does not have raises ``AttributeError``, a wrong signature raises ``TypeError``.

    Args:
        responses: what each request gets, keyed by URL or ``(METHOD, URL)`` (the second wins):
            a :class:`MockResponse`, an exception to raise (``aiohttp.ClientConnectionError()``,
            ``TimeoutError()``), or a plain value (``dict``/``list`` → a JSON response, ``str``
            → a text response). A request with no entry raises ``AssertionError`` naming it and
            the known ones.

    Every call is recorded as usual on the mock methods (``session.get.call_args_list``…);
    ``session.requests`` lists ``(METHOD, URL)`` in order.
    """
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - the extra is missing
        raise ImportError(
            "loopwarden.mock.mock_aiohttp_session needs aiohttp: install loopwarden[aiohttp]"
        ) from None
    table: dict[tuple[str, str], Any] = {}
    for key, value in (responses or {}).items():
        method, url = key if isinstance(key, tuple) else ("*", key)
        table[(method.upper(), str(url))] = value
    session = mock.create_autospec(aiohttp.ClientSession, instance=True)
    session.closed = False
    requests: list[tuple[str, str]] = []
    session.requests = requests

    def answer(method: str, url: Any) -> Any:
        method = method.upper()
        key = str(url)
        requests.append((method, key))
        found = table.get((method, key), table.get(("*", key), _MISSING))
        if found is _MISSING:
            known = ", ".join(f"{m} {u}" if m != "*" else u for m, u in table) or "none"
            return async_context_manager(
                raises=AssertionError(
                    f"mock_aiohttp_session has no response for {method} {key}; known: {known}"
                )
            )
        if isinstance(found, BaseException):
            return async_context_manager(raises=found)
        if isinstance(found, dict | list):
            found = MockResponse(json=found)
        elif isinstance(found, str):
            found = MockResponse(text=found)
        if isinstance(found, MockResponse):
            found = _response(found, method, key)
        return async_context_manager(returns=found)

    for name in _METHODS:
        getattr(session, name).side_effect = lambda url, *args, _method=name, **kwargs: answer(
            _method, url
        )
    session.request.side_effect = lambda method, url, *args, **kwargs: answer(method, url)

    async def close() -> None:
        session.closed = True

    session.close.side_effect = close
    session.__aenter__.return_value = session
    return session


_MISSING = object()
