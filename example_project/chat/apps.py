from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class ChatConfig(AppConfig):
    name = "example_project.chat"
    label = "chat"
    verbose_name = "Example chat"

    def ready(self) -> None:
        from .checks import check_secret_key

        checks.register(check_secret_key, checks.Tags.security)
