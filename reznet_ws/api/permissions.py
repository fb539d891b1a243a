"""Who may see the stats: ``STATS_PERMISSION_CLASSES``, read at call time.

The logic lives with the stats (:mod:`reznet_ws.stats.access`), which the WebSocket ``get_stats``
event and the admin page use too; the API re-exports it here.
"""

from __future__ import annotations

from ..stats.access import get_stats_permissions, user_has_stats_permission

__all__ = ["get_stats_permissions", "user_has_stats_permission"]
