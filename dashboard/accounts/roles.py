"""The two roles of the dashboard, as Django groups (created by migration 0001).

viewer   sees every page, API and live stream.
operator everything a viewer can, plus changing the mesh (route edits arrive in a later issue).
Superusers count as operators.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

VIEWER = "viewer"
OPERATOR = "operator"
ROLES = (VIEWER, OPERATOR)


def is_operator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return bool(user.is_superuser or user.groups.filter(name=OPERATOR).exists())


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The strongest role the user holds, or None (anonymous or no group)."""
    if not user.is_authenticated:
        return None
    if is_operator(user):
        return OPERATOR
    if user.groups.filter(name=VIEWER).exists():
        return VIEWER
    return None
