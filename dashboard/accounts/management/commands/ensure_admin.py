"""`manage.py ensure_admin`: create the first admin (see dashboard.accounts.bootstrap)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.accounts.bootstrap import ensure_admin
from dashboard.env import env_secret, env_str


class Command(BaseCommand):
    help = "Create the first admin from DJANGO_SUPERUSER_USERNAME/PASSWORD, or with a generated password."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password-file",
            type=Path,
            default=None,
            help="where a generated password is kept (default: <state dir>/admin-password)",
        )

    def handle(self, *args, **options):
        username = env_str("DJANGO_SUPERUSER_USERNAME", "admin") or "admin"
        password = env_secret("DJANGO_SUPERUSER_PASSWORD") or None
        password_file = options["password_file"] or Path(settings.STATE_DIR) / "admin-password"
        result = ensure_admin(username, password, password_file)
        if result.generated_password:
            self.stdout.write(
                f"Created admin {result.username!r} with password: {result.generated_password}\n"
                f"(shown once; kept in {result.password_file})"
            )
        elif result.created:
            self.stdout.write(f"Created admin {result.username!r}.")
        else:
            self.stdout.write(f"Admin {result.username!r} exists.")
