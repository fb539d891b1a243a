"""One model without a table: the Django admin's handle on the WebSocket metrics page.

The admin lists models, so the page (:class:`reznet_ws.admin.MetricsAdmin`) is registered for
:class:`Metrics`. ``managed = False``: no migration and no table; no default permissions either,
since ``STATS_PERMISSION_CLASSES`` decides who sees the page.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Metrics"]


class Metrics(models.Model):
    """The WebSocket metrics page in the admin (``/admin/reznet_ws/metrics/``); never stored."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "WebSocket metrics"
        verbose_name_plural = "WebSocket metrics"

    def __str__(self) -> str:
        return "WebSocket metrics"
