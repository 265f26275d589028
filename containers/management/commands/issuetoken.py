"""`manage.py issuetoken USER`: print a new API token for USER (shown once; stored hashed).

--create makes USER first (a plain user unless --staff; unusable password) when missing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from containers import tokens


class Command(BaseCommand):
    help = "Print a new API token for a user (optionally creating the user)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the user if missing")
        parser.add_argument("--staff", action="store_true", help="with --create: a staff user")
        parser.add_argument("--expiry-days", type=int, default=None)

    def handle(self, *args, username: str, create: bool, staff: bool, expiry_days: int | None, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(f"no such user: {username}")
            user = User.objects.create_user(username, is_staff=staff)
        _, key = tokens.issue(user, expiry_days)
        self.stdout.write(f"API token: {key}")
