"""`manage.py setup`: idempotent first-run set-up after migrate.

Creates the state layout, the default image busybox:latest (from the host's
busybox-static) and, on first run only, an admin user whose password and API token are
printed once (the token is stored hashed: it cannot be shown again; make another with
POST /api/tokens/).
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from containers import tokens
from containers.images import ensure_default_image
from containers.runtime import engine


class Command(BaseCommand):
    help = "Create the default image and the first admin user (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="", help="default: generated")

    def handle(self, *args, username: str, password: str, **options):
        engine().layout.ensure()
        img = ensure_default_image()
        self.stdout.write(f"image busybox:latest = {img.id[:12]}")
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username, "", password)
        _, key = tokens.issue(user)  # stored hashed: this is the only time it is seen
        self.stdout.write(self.style.SUCCESS(
            "\n  First run: an admin user was created. This is shown once:\n"
            f"    user:      {username}\n    password:  {password}\n    API token: {key}\n"
        ))
