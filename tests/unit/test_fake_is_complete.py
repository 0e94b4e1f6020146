"""The fake unit of work has every member of the `UnitOfWork` port, called the same way.

mypy checks only `dispatch/`, and the fake is passed to the core untyped, so nothing else would
notice a port method the fake lacks until a unit test happened to call it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, Protocol

import pytest

from dispatch.ports import UnitOfWork
from tests.unit.fakes import FakeUnitOfWork


def port_members() -> list[str]:
    """The public members the port declares: its methods and its annotated attributes.

    (`typing.Protocol`'s own bookkeeping on the class is all underscored.)
    """
    names: set[str] = set()
    for part in UnitOfWork.__mro__:  # the port and the protocols it is made of
        if part not in (Protocol, Generic, object):
            names |= set(part.__dict__) | set(inspect.get_annotations(part))
    return sorted(n for n in names if not n.startswith("_"))


def parameters(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, kind (positional, keyword-only...) and default, in order."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_port_is_read_whole() -> None:
    # Guards the guard: if Protocol's internals changed, the list could silently come out empty.
    members = port_members()
    assert {"events", "now", "holder_of", "add_history"} <= set(members)
    assert len(members) > 20


def test_the_fake_has_every_attribute_of_the_port() -> None:
    uow = FakeUnitOfWork()
    for name in [n for n in port_members() if not callable(getattr(UnitOfWork, n, None))]:
        assert hasattr(uow, name), f"FakeUnitOfWork has no attribute {name!r}"


@pytest.mark.parametrize(
    "name", [n for n in port_members() if callable(getattr(UnitOfWork, n, None))]
)
def test_the_fake_implements_the_method_with_the_same_parameters(name: str) -> None:
    assert hasattr(FakeUnitOfWork, name), f"FakeUnitOfWork.{name} is missing"
    port, fake = getattr(UnitOfWork, name), getattr(FakeUnitOfWork, name)
    assert inspect.iscoroutinefunction(fake) == inspect.iscoroutinefunction(port), (
        f"FakeUnitOfWork.{name} must be {'async' if inspect.iscoroutinefunction(port) else 'sync'}"
    )
    assert parameters(fake) == parameters(port)
