"""Roles and permissions: what a stored role grants, the pinned owner, who receives alerts."""

from __future__ import annotations

import pytest

from dispatch import access
from dispatch.access import OWNER, Role, role_from_stored
from dispatch.errors import Conflict
from dispatch.model import Permission

P = Permission
EVERY = frozenset(Permission)


def test_built_in_roles_and_their_defaults() -> None:
    defaults = {r.name: r for r in access.DEFAULT_ROLES}
    assert set(defaults) == {"owner", "dispatcher", "viewer"}
    assert defaults["owner"] == Role("owner", EVERY, receives_alerts=True)
    assert defaults["dispatcher"] == Role(
        "dispatcher",
        frozenset({P.RESPOND_ON_BEHALF, P.ASSIGN, P.SEND_REQUESTS, P.VIEW}),
        receives_alerts=True,
    )
    assert defaults["viewer"] == Role("viewer", frozenset({P.VIEW}), receives_alerts=False)


def test_a_role_grants_exactly_its_stored_permissions() -> None:
    role = role_from_stored("tech-lead", ["view", "assign"], receives_alerts=True)
    assert role == Role("tech-lead", frozenset({P.VIEW, P.ASSIGN}), receives_alerts=True)
    assert role.allows(P.ASSIGN)
    assert not role.allows(P.MANAGE_SETTINGS)


@pytest.mark.parametrize(
    "stored",
    [None, [], {}, "view", 7, ["teleport", 3, None, {"view": True}]],
    ids=["no row", "empty", "object", "string", "number", "unknown names"],
)
def test_nothing_is_granted_by_missing_or_malformed_storage(stored: object) -> None:
    assert role_from_stored("dispatcher", stored).permissions == frozenset()


def test_unknown_names_are_ignored_beside_known_ones() -> None:
    assert role_from_stored("x", ["view", "fly", "view"]).permissions == frozenset({P.VIEW})


@pytest.mark.parametrize("stored", [None, [], ["view"], "garbage"])
def test_owner_has_every_permission_whatever_is_stored(stored: object) -> None:
    owner = role_from_stored(OWNER, stored)
    assert owner.permissions == EVERY
    assert all(owner.allows(p) for p in Permission)


def test_only_owner_is_pinned() -> None:
    assert access.pinned_permissions(OWNER) == EVERY
    for name in ("dispatcher", "viewer", "Owner", "owner2", ""):
        assert access.pinned_permissions(name) is None


def test_owner_cannot_be_reduced() -> None:
    access.check_new_permissions(OWNER, list(reversed(list(Permission))))  # order is irrelevant
    with pytest.raises(Conflict) as refused:
        access.check_new_permissions(OWNER, [P.VIEW])
    assert (refused.value.code, refused.value.field) == ("owner_has_all_permissions", "permissions")
    access.check_new_permissions("viewer", [])  # other roles may have nothing at all


def test_permissions_are_listed_in_one_order() -> None:
    assert access.in_order({P.VIEW, P.RESPOND_ON_BEHALF, P.ASSIGN}) == [
        P.RESPOND_ON_BEHALF,
        P.ASSIGN,
        P.VIEW,
    ]
    assert [p.value for p in access.in_order(EVERY)] == [
        "respond_on_behalf",
        "assign",
        "send_requests",
        "manage_settings",
        "view",
    ]


@pytest.mark.parametrize(
    ("role", "alerted"),
    [
        (Role(OWNER, EVERY, receives_alerts=False), True),
        (Role("dispatcher", frozenset({P.ASSIGN}), receives_alerts=True), True),
        (Role("dispatcher", frozenset({P.ASSIGN}), receives_alerts=False), False),
        (Role("viewer", frozenset({P.VIEW}), receives_alerts=True), False),
        (Role("tech-lead", EVERY - {P.ASSIGN}, receives_alerts=True), False),
    ],
    ids=["owner always", "assign + alerts", "alerts off", "no assign", "everything but assign"],
)
def test_who_receives_alerts(role: Role, alerted: bool) -> None:
    assert access.receives_alerts(role) is alerted


def test_alerted_roles_always_include_owner() -> None:
    assert access.alerted_roles([]) == {OWNER}
    roles = [
        role_from_stored("dispatcher", ["assign", "view"], receives_alerts=True),
        role_from_stored("quiet", ["assign"], receives_alerts=False),
        role_from_stored("viewer", ["view"], receives_alerts=True),
        role_from_stored(OWNER, [], receives_alerts=False),
    ]
    assert access.alerted_roles(roles) == {OWNER, "dispatcher"}
