"""The first admin account: from DJANGO_SUPERUSER_USERNAME / DJANGO_SUPERUSER_PASSWORD, or generated.

A generated password is written to a file in the state directory (mode 0600) so that later runs
reuse it instead of printing a new one; it is shown only when it is created.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from dashboard.accounts.roles import OPERATOR


@dataclass(frozen=True)
class AdminResult:
    username: str
    created: bool
    # Set only when this call generated the password: the caller prints it once.
    generated_password: str | None
    password_file: Path | None


def _read_or_create_password(password_file: Path) -> tuple[str, bool]:
    if password_file.exists():
        return password_file.read_text().strip(), False
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password, True


@transaction.atomic
def ensure_admin(username: str, password: str | None, password_file: Path | None) -> AdminResult:
    """Make sure superuser `username` exists and belongs to the operator group.

    With `password`, the account gets exactly that password (updated if it differs). Without one,
    an existing account is left alone; a new one gets the password stored in `password_file`
    (generated there on first use). Idempotent.
    """
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    generated: str | None = None
    created = user is None
    if user is None:
        if not password:
            if password_file is None:
                raise ValueError("no password given and no password file to keep a generated one")
            password, fresh = _read_or_create_password(password_file)
            generated = password if fresh else None
        user = User.objects.create_superuser(username=username, email="", password=password)
    elif password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    operator, _ = Group.objects.get_or_create(name=OPERATOR)
    user.groups.add(operator)
    return AdminResult(
        username=username, created=created, generated_password=generated, password_file=password_file
    )
