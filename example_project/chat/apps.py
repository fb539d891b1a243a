from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "example_project.chat"
    label = "chat"
    verbose_name = "Example chat"
