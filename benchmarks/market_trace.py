"""A deterministic synthetic market-data stream: numeric-heavy events with many short keys.

Mix (by count): order-book updates 60 % (ten price levels a side), trades 30 %, tickers 10 %.
Keys are the one-letter names exchange feeds use (``s`` symbol, ``u`` update id, ``seq``, ``p``
price, ``q`` quantity, ``b`` bids, ``a`` asks, ``c`` close, ``t`` time in ms). Several of them are
short names of the default field map, so :data:`MARKET_FIELD_MAP` is the map such a consumer
declares instead.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["MARKET_FIELD_MAP", "MARKET_TIMESTAMP_FIELDS", "make_market_trace"]

#: A field map for this stream: its keys are already short, so it maps the few long ones only.
MARKET_FIELD_MAP: dict[str, str] = {"symbol": "sy", "exchange": "x", "volume": "v"}
MARKET_TIMESTAMP_FIELDS: list[str] = []

_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT")
_START_MS = 1_761_393_600_000


def _levels(rng: random.Random, mid: float, side: int) -> list[list[float]]:
    step = mid * 0.0001
    return [
        [round(mid + side * step * (i + 1), 2), round(rng.uniform(0.001, 25.0), 4)]
        for i in range(10)
    ]


def make_market_trace(n: int = 2000, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    """Return ``n`` (event, data) pairs, the same for the same seed."""
    rng = random.Random(seed)
    mids = {symbol: rng.uniform(0.5, 60_000.0) for symbol in _SYMBOLS}
    trace: list[tuple[str, dict[str, Any]]] = []
    t, update = _START_MS, 1_000_000
    for seq in range(n):
        t += rng.randrange(1, 50)
        update += rng.randrange(1, 5)
        symbol = rng.choice(_SYMBOLS)
        mid = mids[symbol] = mids[symbol] * (1 + rng.gauss(0, 0.0005))
        r = rng.random()
        if r < 0.6:
            data: dict[str, Any] = {
                "s": symbol,
                "u": update,
                "seq": seq,
                "t": t,
                "b": _levels(rng, mid, -1),
                "a": _levels(rng, mid, 1),
            }
            trace.append(("book", data))
        elif r < 0.9:
            data = {
                "s": symbol,
                "u": update,
                "seq": seq,
                "t": t,
                "p": round(mid, 2),
                "q": round(rng.uniform(0.0001, 3.0), 4),
                "c": rng.random() < 0.5,
            }
            trace.append(("trade", data))
        else:
            data = {
                "s": symbol,
                "seq": seq,
                "t": t,
                "c": round(mid, 2),
                "p": round(rng.gauss(0, 2.5), 3),
                "q": round(rng.uniform(1_000, 90_000), 3),
                "b": round(mid * 0.9999, 2),
                "a": round(mid * 1.0001, 2),
                "volume": round(rng.uniform(1e5, 1e7), 1),
            }
            trace.append(("ticker", data))
    return trace
