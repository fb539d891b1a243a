"""Write tests/vectors/entities.json: entity frames (protocol section 3.4) and what they decode to.

Run ``python tests/vectors/entities_generate.py``; tests/test_entities_vectors.py fails when the
committed file differs from a fresh run, and tests/js/entities.test.mjs replays it in JavaScript.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reznet_ws.codec import Codec  # noqa: E402
from reznet_ws.codec.entities import (  # noqa: E402
    EntityRules,
    EntityTable,
    entity_frame,
    resolve_frame,
    split_entities,
    table_rows,
)
from reznet_ws.encoding import default_field_map  # noqa: E402

RULES = {"author": "author_id", "agent": "id"}
MAX = 2
OUT = Path(__file__).resolve().parent / "entities.json"

ANN = {"author_id": "u1", "name": "Ann", "avatar": "https://example.com/a.png", "online": True}
BO = {
    "author_id": 7,
    "name": "Bø 🙂",
    "created_at": "2025-10-25T12:00:00Z",
    "tags": ["x", None, -0.0],
}
CY = {"author_id": "u3", "name": "Cy", "~": "tilde", "~~": 2}
BOT = {"id": 1, "status": "thinking", "load": 0.5}


def _messages() -> list[dict[str, object]]:
    ann2 = {**ANN, "online": False}
    return [
        {"message_id": "m1", "content": "defined", "author": ANN},
        {"message_id": "m2", "content": "referred", "author": ANN},
        {
            "message_id": "m3",
            "author": BO,
            "reply_to": {"author": ANN},
            "mentions": [{"author": BO}],
        },
        {"message_id": "m4", "author": CY, "agent": BOT},  # MAX 2: the oldest definitions go
        {"message_id": "m5", "author": ANN},  # evicted earlier: defined again
        {"message_id": "m6", "author": ann2, "reply_to": {"author": ANN}},  # a changed entity
        {"message_id": "m7", "author": ann2, "quote": {"~": "author:u1"}},  # looks like a ref
        {"message_id": "m8", "author": None, "agent": {"id": True, "status": "not an entity"}},
    ]


def build() -> dict[str, object]:
    """Return the content of entities.json (every frame checked by the Python receiver)."""
    codec = Codec(default_field_map())
    rules = EntityRules(RULES, codec.field_map, 4096)
    server, receiver = EntityTable(MAX), EntityTable(MAX)
    frames = []
    for data in _messages():
        text = codec.encode_data(data)
        parts = split_entities(json.loads(text), rules)
        if parts is None:
            frame = codec.event_frame("message_new", text)
        else:
            missing = server.missing(parts.entities)
            rows = table_rows(parts.entities, missing, server.items, 0.8)
            frame = entity_frame(codec, "message_new", parts.data, rows)
            server.store([parts.entities[i] for i in missing])
        expected = json.loads(codec.encode_v1("message_new", data))["data"]
        parsed = json.loads(frame)
        got = resolve_frame(parsed, receiver) if "t" in parsed else parsed["d"]
        assert codec.decode_data(got) == expected
        frames.append({"frame": frame, "expected": expected, "held": list(receiver.items)})
    invalid = [
        {"frame": '{"_v":2,"e":"m","t":[],"d":{"a":{"~":"author:nobody"}}}', "held": []},
        {"frame": '{"_v":2,"e":"m","t":[["author:a"]],"d":1}', "held": []},
        {"frame": '{"_v":2,"e":"m","t":{"author:a":1},"d":1}', "held": []},
        {"frame": '{"_v":2,"e":"m","t":[["author:a",null]],"d":1}', "held": []},
        {"frame": '{"_v":2,"e":"m","t":[["author:zz",null,[["n",1]]]],"d":1}', "held": []},
        {"frame": '{"_v":2,"e":"m","t":[["a:1",{"n":1}],["a:1",null,[["x"]]]],"d":1}', "held": []},
    ]
    return {
        "field_map": codec.field_map.mapping,
        "timestamp_fields": sorted(codec.field_map.timestamp_fields),
        "rules": RULES,
        "max": MAX,
        "frames": frames,
        "invalid": invalid,
    }


def render() -> str:
    """Return the text of entities.json."""
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8", newline="\n")
    print(f"wrote {OUT}")
