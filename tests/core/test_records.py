"""Record: the dataclass behaviour our data classes keep, without the import cost."""

from __future__ import annotations

import pytest

from loopwarden._core._hangs import Armed
from loopwarden._core._registry import TaskOrigin
from loopwarden._core._sites import Site


def test_a_record_reads_and_compares_as_the_dataclass_did() -> None:
    site = Site("app.py", 3, "main")
    origin = TaskOrigin(site, "test_a")
    assert repr(origin) == (
        "TaskOrigin(site=Site(filename='app.py', lineno=3, function='main'), owner='test_a', "
        "user_site=None, stack=())"
    )
    assert origin == TaskOrigin(Site("app.py", 3, "main"), "test_a")
    assert origin != TaskOrigin(site, "test_b")
    assert origin != (site, "test_a", None, ())  # a record equals only its own kind
    assert len({origin, TaskOrigin(Site("app.py", 3, "main"), "test_a")}) == 1


def test_replace_copies_with_changes_and_names_a_wrong_field() -> None:
    origin = TaskOrigin(Site("app.py", 3, "main"), "test_a")
    moved = origin.replace(owner="the session fixture")
    assert (moved.site, moved.owner) == (origin.site, "the session fixture")
    assert origin.owner == "test_a"
    with pytest.raises(TypeError, match="TaskOrigin has no field 'ownr'"):
        origin.replace(ownr="x")


def test_defaults_are_fresh_per_record() -> None:
    from loopwarden._core._registry import Registry

    first, second = Registry(), Registry()
    first.touched.add("test_a")
    first.contexts.append(None)  # type: ignore[arg-type]
    assert (second.touched, second.contexts) == (set(), [])
    assert Armed() == Armed(None, (), False)


def test_a_fixture_owner_is_equal_and_hashed_by_all_its_fields() -> None:
    # Its comparison is written out (owners are compared for every record of a loop): it must
    # still agree with the fields, as Record's generic one does.
    from loopwarden._plugin._runtime import FixtureOwner

    owner = FixtureOwner("server", "module", "tests/test_api.py")
    same = FixtureOwner("server", "module", "tests/test_api.py")
    assert owner == same
    assert hash(owner) == hash(same)
    assert len({owner, same}) == 1
    for other in (
        FixtureOwner("client", "module", "tests/test_api.py"),
        FixtureOwner("server", "session", "tests/test_api.py"),
        FixtureOwner("server", "module", "tests/test_db.py"),
    ):
        assert owner != other
    assert owner != ("server", "module", "tests/test_api.py")  # an owner equals only its kind
    assert owner != "tests/test_api.py::test_a"  # nor a test's owner token
    assert str(owner) == "module-scoped fixture 'server'"
