"""``send_json(content)`` on the mixins: content frames on v2, exactly Channels' text elsewhere.

The content-frame codec (reznet_ws.codec.content) is checked with hypothesis and against the
shared vectors of tests/vectors/content.json; the consumers with WebsocketCommunicator, async and
sync alike.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import gzip
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import given, settings
from hypothesis import strategies as st

from reznet_ws.codec import DEFAULT_FIELD_MAP, PROTOCOL_VERSION, SUBPROTOCOL, Codec, FieldMap
from reznet_ws.codec.content import (
    CONTENT_EVENT,
    accepts_content,
    content_frame,
    decode_content_frame,
    encode_content,
)
from reznet_ws.codec.errors import ProtocolError
from reznet_ws.consumers import OptimizedConsumerMixin, OptimizedSyncConsumerMixin
from reznet_ws.delivery import connection as connection_module
from reznet_ws.encoding import default_field_map
from reznet_ws.stats import StatsRecorder

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("recorder")]

ROOT = Path(__file__).resolve().parent.parent
FEATURES = "?reznet_features=content"
CHAT = {
    "type": "chat.message",
    "message": {
        "message_id": "7f1c2a9e-4b7d-4c1e-9a51-3f2e8d6b0c11",
        "channel_id": "general",
        "author_name": "Alice Example",
        "content": "Hello everyone, the deploy finished.",
        "created_at": "2025-10-25T12:00:00.123Z",
        "metadata": {"client": "web", "edited": False, "tokens": 17},
    },
}
#: Content that cannot travel through the test client as JSON: the consumer sends it itself.
SPECIAL: dict[str, Any] = {
    "nan": {"value": math.nan},
    "dated": {
        "created_at": datetime.datetime(2025, 10, 25, 12, tzinfo=datetime.UTC),
        "price": decimal.Decimal("1.50"),
        "b": 1,
        "a": 2,
    },
}


def canonical(value: object) -> str:
    # Types count: 1 and 1.0 are written differently.
    return json.dumps(value, sort_keys=True)


def v1_value(content: object) -> object:
    return json.loads(json.dumps(content))


# ------------------------------------------------------------------------------ the codec

_KEYS = st.one_of(
    st.sampled_from(sorted(DEFAULT_FIELD_MAP)),
    st.sampled_from(sorted(DEFAULT_FIELD_MAP.values())),
    st.sampled_from(["~", "~c", "~~mid", "", "__proto__"]),
    st.text(max_size=6),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        ["2025-10-25T12:00:00Z", "2025-10-25T12:00:00.123000Z", "2025-10-25T14:00:00+02:00"]
    ),
)
_CONTENT = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(_KEYS, inner, max_size=5),
        st.dictionaries(st.integers(-5, 5), inner, max_size=3),
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("backend", ["stdlib", "auto"])
@settings(max_examples=300, deadline=None)
@given(content=_CONTENT)
def test_decoding_a_content_frame_gives_the_parse_of_json_dumps(backend: str, content: Any) -> None:
    codec = Codec(FieldMap.default(), json_backend=backend)
    text, v1_size = encode_content(codec, content)
    frame = content_frame(text)
    assert canonical(decode_content_frame(codec, frame)) == canonical(v1_value(content))
    assert v1_size is None or v1_size == len(json.dumps(content))
    packed, _ = codec.finalize(frame)
    assert canonical(decode_content_frame(codec, gzip.compress(frame.encode()))) == canonical(
        v1_value(content)
    )
    assert packed  # finalize accepts content frames like any frame


@settings(max_examples=100, deadline=None)
@given(content=_CONTENT, value=st.sampled_from([datetime.datetime(2025, 1, 1), decimal.Decimal(1)]))
def test_what_json_dumps_refuses_the_content_encoding_refuses(content: Any, value: Any) -> None:
    poisoned = [content, {"x": value}]
    with pytest.raises(TypeError):
        json.dumps(poisoned)
    with pytest.raises(TypeError):
        encode_content(Codec(), poisoned)


def test_nan_is_refused_by_the_strict_encoding() -> None:
    with pytest.raises(ValueError):
        encode_content(Codec(), {"x": math.nan})


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        (b"reznet_features=content", True),
        ("a=1&reznet_features=gzip,%20content&reznet_map=abc", True),
        (b"reznet_features=contents", False),
        (b"reznet_map=content", False),
        (b"", False),
        (None, False),
    ],
)
def test_the_announcement_is_read_from_the_query_string(query: Any, accepted: bool) -> None:
    assert accepts_content(query) is accepted


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"_v":2,"c":1,"e":"x","d":1}', "invalid_frame"),
        ('{"_v":2,"c":1,"b":[]}', "invalid_frame"),
        ('{"_v":3,"c":1}', "unknown_version"),
        ('{"_v":2,"e":"x","d":1}', "invalid_frame"),
    ],
)
def test_malformed_content_frames_are_refused(frame: str, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_content_frame(Codec(), frame)
    assert info.value.code == code


def test_old_decoders_refuse_a_content_frame_rather_than_misread_it() -> None:
    # Why the frame is sent only to clients that announce it: a v2 decoder without section 3.1
    # reports invalid_frame (and drops it); it never mistakes it for an event.
    with pytest.raises(ProtocolError) as info:
        Codec().decode_frame('{"_v":2,"c":{"message":"hi"}}')
    assert info.value.code == "invalid_frame"


def _load_generator() -> Any:
    path = ROOT / "tests" / "vectors" / "generate.py"
    spec = importlib.util.spec_from_file_location("reznet_vectors_content", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTENT_VECTORS = json.loads((ROOT / "tests" / "vectors" / "content.json").read_text("utf-8"))


def test_content_vectors_are_up_to_date() -> None:
    generator = _load_generator()
    fresh = generator._dump(generator.build_content_vectors())
    committed = (ROOT / "tests" / "vectors" / "content.json").read_text("utf-8")
    assert fresh == committed, "content.json is stale: run python tests/vectors/generate.py"
    assert CONTENT_VECTORS["protocol_version"] == PROTOCOL_VERSION


@pytest.mark.parametrize("vector", CONTENT_VECTORS["vectors"], ids=lambda v: v["name"])
def test_content_vector_decodes_to_expected(vector: dict[str, Any]) -> None:
    codec = Codec()
    if "field_map" in vector:
        codec = Codec(FieldMap(vector["field_map"], vector["timestamp_fields"]))
    frame = vector["frame"]
    raw = frame["data"] if frame["type"] == "text" else base64.b64decode(frame["base64"])
    assert canonical(decode_content_frame(codec, raw)) == canonical(vector["expected"])


def test_the_spec_describes_content_frames_without_a_new_version() -> None:
    spec = (ROOT / "docs" / "protocol.md").read_text("utf-8")
    assert f"Protocol version: **{PROTOCOL_VERSION}**" in spec
    assert '{"_v":2,"c":DATA}' in spec
    assert "reznet_features=content" in spec


# -------------------------------------------------------------------------- the consumers


class AsyncSender(OptimizedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add("plain-room", self.channel_name)
        await self.accept()

    async def receive_event(self, event: str, data: Any) -> None:
        if event == "send":
            await self.send_json(data)
        elif event == "send_close":
            await self.send_json(data, close=True)
        elif event == "batch_then_send":
            await self.send_event("tick", {"n": 1}, batch=True)
            await self.send_json(data)
        elif event == "refused":
            try:
                await self.send_json({"at": datetime.datetime(2025, 1, 1)})
            except TypeError:
                await self.send_json({"raised": "TypeError"})
        elif event == "special":
            await self.send_json(SPECIAL[data])
        elif event == "group":  # plain Channels: group_send to a handler type
            await self.channel_layer.group_send("plain-room", {"type": "chat.message", **data})

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "chat.message", "message": event["message"]})


class SyncSender(OptimizedSyncConsumerMixin, JsonWebsocketConsumer):
    def connect(self) -> None:
        from asgiref.sync import async_to_sync

        async_to_sync(self.channel_layer.group_add)("plain-room", self.channel_name)
        self.accept()

    def receive_event(self, event: str, data: Any) -> None:
        from asgiref.sync import async_to_sync

        if event == "send":
            self.send_json(data)
        elif event == "send_close":
            self.send_json(data, close=True)
        elif event == "batch_then_send":
            self.send_event("tick", {"n": 1}, batch=True)
            self.send_json(data)
        elif event == "refused":
            try:
                self.send_json({"at": datetime.datetime(2025, 1, 1)})
            except TypeError:
                self.send_json({"raised": "TypeError"})
        elif event == "special":
            self.send_json(SPECIAL[data])
        elif event == "group":
            async_to_sync(self.channel_layer.group_send)(
                "plain-room", {"type": "chat.message", **data}
            )

    def chat_message(self, event: dict[str, Any]) -> None:
        self.send_json({"type": "chat.message", "message": event["message"]})


class AsyncOptOut(AsyncSender):
    optimize_send_json = False


class SyncOptOut(SyncSender):
    optimize_send_json = False


class AsyncDjangoEncoder(AsyncSender):
    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder, sort_keys=True)


class SyncDjangoEncoder(SyncSender):
    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder, sort_keys=True)


SENDERS = {"async": AsyncSender, "sync": SyncSender}
OPT_OUT = {"async": AsyncOptOut, "sync": SyncOptOut}
DJANGO_ENCODER = {"async": AsyncDjangoEncoder, "sync": SyncDjangoEncoder}


@pytest.fixture(params=["async", "sync"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def open_client(consumer: Any, v2: bool, query: str = "") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        consumer.as_asgi(), "/ws/" + query, subprotocols=[SUBPROTOCOL] if v2 else []
    )
    connected, _ = await comm.connect()
    assert connected
    if v2:
        hello = json.loads(await comm.receive_from())
        assert hello["e"] == "connection_established"
    return comm


async def ask(comm: WebsocketCommunicator, event: str, data: Any = None) -> str | bytes:
    await comm.send_json_to({"event": event, "data": data})
    return await receive(comm)


async def receive(comm: WebsocketCommunicator) -> str | bytes:
    message = await comm.receive_output()  # the conftest's patient default
    assert message["type"] == "websocket.send"
    return message["text"] if message.get("text") is not None else message["bytes"]


def decode(frame: str | bytes) -> object:
    return decode_content_frame(Codec(default_field_map()), frame)


async def test_v2_clients_that_announce_it_get_a_smaller_content_frame(
    kind: str, recorder: StatsRecorder
) -> None:
    comm = await open_client(SENDERS[kind], v2=True, query=FEATURES)
    frame = await ask(comm, "send", CHAT)
    assert isinstance(frame, str) and frame.startswith('{"_v":2,"c":{')
    assert canonical(decode(frame)) == canonical(v1_value(CHAT))
    v1_size = len(json.dumps(CHAT))
    assert len(frame.encode()) < 0.75 * v1_size
    counters = recorder.counters
    assert counters[f"event:{CONTENT_EVENT}"] == 1
    assert counters[f"event_original:{CONTENT_EVENT}"] == v1_size
    assert counters[f"event_optimized:{CONTENT_EVENT}"] == len(frame.encode())
    await comm.disconnect()


@pytest.mark.parametrize(("v2", "query"), [(False, ""), (False, FEATURES), (True, "")])
async def test_every_other_connection_gets_exactly_channels_text(
    kind: str, v2: bool, query: str, recorder: StatsRecorder
) -> None:
    comm = await open_client(SENDERS[kind], v2=v2, query=query)
    assert await ask(comm, "send", CHAT) == json.dumps(CHAT)
    assert recorder.counters[f"event:{CONTENT_EVENT}"] == 1
    assert recorder.counters[f"event_optimized:{CONTENT_EVENT}"] == len(json.dumps(CHAT))
    await comm.disconnect()


async def test_opting_out_sends_channels_text(kind: str, recorder: StatsRecorder) -> None:
    comm = await open_client(OPT_OUT[kind], v2=True, query=FEATURES)
    assert await ask(comm, "send", CHAT) == json.dumps(CHAT)
    assert recorder.counters[f"event:{CONTENT_EVENT}"] == 0
    await comm.disconnect()


async def test_a_custom_encode_json_is_the_reference(kind: str) -> None:
    v2 = await open_client(DJANGO_ENCODER[kind], v2=True, query=FEATURES)
    v1 = await open_client(DJANGO_ENCODER[kind], v2=False)
    plain = await ask(v1, "special", "dated")
    assert plain == '{"a": 2, "b": 1, "created_at": "2025-10-25T12:00:00Z", "price": "1.50"}'
    frame = await ask(v2, "special", "dated")
    assert isinstance(frame, str) and frame.startswith('{"_v":2,"c":')
    decoded = decode(frame)
    assert canonical(decoded) == canonical(json.loads(plain))
    assert isinstance(decoded, dict) and list(decoded) == ["a", "b", "created_at", "price"]
    await v1.disconnect()
    await v2.disconnect()


async def test_what_json_dumps_refuses_raises_on_every_protocol(kind: str) -> None:
    for v2, query in ((True, FEATURES), (False, "")):
        comm = await open_client(SENDERS[kind], v2=v2, query=query)
        frame = await ask(comm, "refused")
        got = decode(frame) if v2 else json.loads(frame)
        assert got == {"raised": "TypeError"}
        await comm.disconnect()


async def test_nan_falls_back_to_channels_text_and_is_counted(
    kind: str, recorder: StatsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "_fallbacks_logged", set())
    comm = await open_client(SENDERS[kind], v2=True, query=FEATURES)
    assert await ask(comm, "special", "nan") == json.dumps(SPECIAL["nan"]) == '{"value": NaN}'
    assert recorder.counters["fallback:ValueError"] == 1
    assert recorder.counters[f"event:{CONTENT_EVENT}"] == 1
    await comm.disconnect()


async def test_queued_events_go_before_the_content(kind: str) -> None:
    comm = await open_client(SENDERS[kind], v2=True, query=FEATURES)
    first = await ask(comm, "batch_then_send", {"message": "after"})
    assert Codec(default_field_map()).decode_frame(first) == [("tick", {"n": 1})]
    assert decode(await receive(comm)) == {"message": "after"}
    await comm.disconnect()


async def test_close_true_closes_after_sending(kind: str) -> None:
    comm = await open_client(SENDERS[kind], v2=True, query=FEATURES)
    assert decode(await ask(comm, "send_close", {"bye": 1})) == {"bye": 1}
    message = await comm.receive_output()
    assert message["type"] == "websocket.close"
    await comm.disconnect()


async def test_large_content_is_gzipped(kind: str) -> None:
    content = {"messages": [CHAT["message"]] * 200}
    comm = await open_client(SENDERS[kind], v2=True, query=FEATURES)
    frame = await ask(comm, "send", content)
    assert isinstance(frame, bytes) and frame[:2] == b"\x1f\x8b"
    assert canonical(decode(frame)) == canonical(v1_value(content))
    await comm.disconnect()


async def test_group_send_handlers_get_smaller_frames_without_code_changes(kind: str) -> None:
    layer = get_channel_layer()
    clients = {
        "v2": await open_client(SENDERS[kind], v2=True, query=FEATURES),
        "v2-old": await open_client(SENDERS[kind], v2=True),
        "v1": await open_client(SENDERS[kind], v2=False),
    }
    await layer.group_send("plain-room", {"type": "chat.message", "message": CHAT["message"]})
    plain = json.dumps(CHAT)
    got = {name: await receive(comm) for name, comm in clients.items()}
    assert got["v1"] == plain and got["v2-old"] == plain
    assert canonical(decode(got["v2"])) == canonical(json.loads(plain))
    assert len(got["v2"]) < len(plain)
    for comm in clients.values():
        await comm.disconnect()
