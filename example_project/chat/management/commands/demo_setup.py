"""Create the demo login admin / admin: the only place the example project makes that user."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = PASSWORD = "admin"


class Command(BaseCommand):
    help = (
        "Create the demo superuser admin with the password admin (for a local demo only: "
        "anybody can guess it)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        users: Any = get_user_model().objects  # a UserManager, which the stubs do not say
        if users.filter(username=USERNAME).exists():
            self.stdout.write(f"The demo superuser {USERNAME} exists (nothing changed).")
        else:
            users.create_superuser(USERNAME, "admin@example.com", PASSWORD)
            self.stdout.write(
                f"Created the demo superuser {USERNAME} with the password {PASSWORD}: "
                "for a local demo only."
            )
        if not settings.DEBUG:
            self.stdout.write(
                self.style.WARNING(
                    f"DEBUG is off: delete the user {USERNAME} (or change its password) before "
                    "anybody else can reach this server."
                )
            )
