"""``Record``: the base of loopwarden's small data classes.

They were dataclasses. Creating a dataclass compiles its generated methods at import, about a
millisecond each: the 34 on the plugin's import path cost 109 M instructions of every pytest
start (55 k per test over a 2000-test run). A ``Record`` subclass writes its
``__init__`` out and lists its fields in ``_fields``; the base derives the rest from them at no
import cost:

- ``repr()`` as a dataclass's: ``Name(field=value, ...)``;
- equality field by field, between records of the same class only (``eq=False`` subclasses set
  ``__eq__ = object.__eq__`` and ``__hash__ = object.__hash__``);
- a hash of the fields (only records whose fields never change are hashed);
- :meth:`replace`, as :func:`dataclasses.replace`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class Record:
    """A data class whose ``_fields`` name its ``__init__`` parameters, in order."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({values})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self._fields))

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (as :func:`dataclasses.replace`)."""
        for name in changes:
            if name not in self._fields:
                raise TypeError(f"{type(self).__qualname__} has no field {name!r}")
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)
