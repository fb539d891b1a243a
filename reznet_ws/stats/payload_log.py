"""The original's payload log line: ``Payload message_new: 5432B -> 2871B (47.1% reduction)``."""

from __future__ import annotations

import logging

from ..conf import get_config

__all__ = ["log_payload", "payload_logger"]

payload_logger = logging.getLogger("reznet_ws.payload")


def log_payload(event: str, original: int, optimized: int) -> None:
    """Log ``Payload EVENT: 5432B -> 2871B (47.1% reduction)`` on ``reznet_ws.payload`` (INFO).

    Only for payloads of at least ``LOG_PAYLOAD_THRESHOLD`` original bytes (``None`` turns the
    line off). :meth:`StatsRecorder.record_message` calls it; call it directly for sends the
    recorder does not see.
    """
    threshold = get_config()["LOG_PAYLOAD_THRESHOLD"]
    if threshold is None or original < threshold or not payload_logger.isEnabledFor(logging.INFO):
        return
    reduction = (1 - optimized / original) * 100 if original else 0.0
    payload_logger.info(
        "Payload %s: %dB -> %dB (%.1f%% reduction)", event, original, optimized, reduction
    )
