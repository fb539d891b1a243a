"""permessage-deflate on the wire: real server processes on 127.0.0.1 and real clients.

The servers are ``reznet-daphne`` (the console script, and ``python -m reznet_ws.server.cli``)
serving tests.deflate_app without Django settings, and ``manage.py runserver`` with
tests.deflate_settings. A small TCP proxy keeps the bytes the server sent, so the tests read the
frames exactly as they were on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.conftest import CLIENT_TIMEOUT, ServerProcess, free_port, ws_connect
from tests.deflate_app import LARGE_JSON

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(sys.executable).with_name("reznet-daphne")
NO_SETTINGS = {"DJANGO_SETTINGS_MODULE": ""}
LARGE = LARGE_JSON.encode()
#: A message must inflate past daphne's default 1 MiB limit by far: 100 MiB of zeros.
BOMB_SIZE = 100 << 20
#: Growth of the server's peak RSS that a refused bomb may cause (the bomb itself is 100 MiB).
BOMB_RSS_BUDGET_KB = 24 * 1024


# ----------------------------------------------------------------------------- servers


@contextlib.contextmanager
def serving(argv: list[str], env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess([arg.replace("{port}", str(port)) for arg in argv], port, env=env)
    try:
        yield server
    finally:
        server.stop()


def script_argv(*extra: str) -> list[str]:
    """argv for ServerProcess (run with this venv's python) of the reznet-daphne console script."""
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: run `pip install -e .` to install the console script")
    return [str(SCRIPT), "-b", "127.0.0.1", "-p", "{port}", *extra, "tests.deflate_app:application"]


def runserver_argv(*extra: str) -> list[str]:
    return ["manage.py", "runserver", "--noreload", *extra, "127.0.0.1:{port}"]


RUNSERVER_ENV = {"DJANGO_SETTINGS_MODULE": "tests.deflate_settings"}


@pytest.fixture(scope="module")
def script_server() -> Iterator[ServerProcess]:
    """reznet-daphne with its defaults, no Django settings."""
    with serving(script_argv(), env=NO_SETTINGS) as server:
        yield server


# ----------------------------------------------------------------------------- wire helpers


class Proxy:
    """A TCP proxy to the server that keeps every byte the server sent (``downstream``)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.downstream = bytearray()
        self.port = 0
        self._handlers: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Proxy]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(
            self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, self.downstream)
        )

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: bytearray | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if keep is not None:
                    keep += data
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def server_frames(stream: bytes) -> list[tuple[int, int]]:
    """Return ``(first byte, frame length on the wire)`` of each frame after the handshake."""
    pos = stream.index(b"\r\n\r\n") + 4
    frames = []
    while pos + 2 <= len(stream):
        first, length = stream[pos], stream[pos + 1] & 0x7F
        head = 2
        if length == 126:
            length, head = int.from_bytes(stream[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(stream[pos + 2 : pos + 10], "big"), 10
        frames.append((first, head + length))
        pos += head + length
    return frames


async def ask(ws: ClientConnection, text: str) -> Any:
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT)


async def large_over_proxy(port: int, **connect_kwargs: Any) -> tuple[ClientConnection, int, int]:
    """Fetch LARGE_JSON through a proxy: ``(connection, first byte, frame length)``."""
    proxy = Proxy(port)
    async with (
        proxy.running(),
        ws_connect(f"ws://127.0.0.1:{proxy.port}/ws/", **connect_kwargs) as ws,
    ):
        assert await ask(ws, "large") == LARGE_JSON
    first, length = server_frames(bytes(proxy.downstream))[0]
    return ws, first, length


def offered_extensions(ws: ClientConnection) -> str | None:
    assert ws.response is not None
    return ws.response.headers.get("Sec-WebSocket-Extensions")


# ----------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize("how", ["console-script", "python-m"])
async def test_reznet_daphne_negotiates_and_compresses(how: str) -> None:
    argv = (
        script_argv()
        if how == "console-script"
        else ["-m", "reznet_ws.server.cli", *script_argv()[1:]]
    )
    with serving(argv, env=NO_SETTINGS) as server:
        ws, first, length = await large_over_proxy(server.port)
    assert offered_extensions(ws) == "permessage-deflate; client_max_window_bits=12"
    assert first == 0xC1  # FIN, RSV1 (compressed), text
    assert length < len(LARGE) * 0.15, (length, len(LARGE))
    assert "permessage-deflate: on (level 6, server window 12 bits" in server.output()


async def test_client_offering_nothing_gets_plain_frames(script_server: ServerProcess) -> None:
    ws, first, length = await large_over_proxy(script_server.port, compression=None)
    assert offered_extensions(ws) is None
    assert first == 0x81  # FIN, text, RSV1 clear
    assert length == len(LARGE) + 10  # 64-bit length header, unmasked


async def test_scope_flag_only_when_negotiated(script_server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{script_server.port}/ws/"
    async with ws_connect(url) as ws:
        flag = json.loads(await ask(ws, "scope"))["reznet.permessage_deflate"]
    assert flag == {
        "level": 6,
        "mem_level": 5,
        "server_max_window_bits": 12,
        "client_max_window_bits": 12,
        "server_no_context_takeover": True,
        "client_no_context_takeover": False,
    }
    async with ws_connect(url, compression=None) as ws:
        assert json.loads(await ask(ws, "scope")) == {}


async def test_client_window_limits_are_honoured(script_server: ServerProcess) -> None:
    # The client caps both windows at 10 bits; websockets fails the connection if the server
    # answers above its offer or compresses with a larger window than it allowed.
    offer = ClientPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10)
    url = f"ws://127.0.0.1:{script_server.port}/ws/"
    async with ws_connect(url, compression=None, extensions=[offer]) as ws:
        assert offered_extensions(ws) == (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
        )
        assert await ask(ws, "large") == LARGE_JSON
        assert await ask(ws, "x" * 50_000) == "x" * 50_000
        flag = json.loads(await ask(ws, "scope"))["reznet.permessage_deflate"]
    assert (flag["server_max_window_bits"], flag["client_max_window_bits"]) == (10, 10)


async def test_server_no_context_takeover_requested_by_client(script_server: ServerProcess) -> None:
    offer = ClientPerMessageDeflateFactory(server_no_context_takeover=True)
    url = f"ws://127.0.0.1:{script_server.port}/ws/"
    async with ws_connect(url, compression=None, extensions=[offer]) as ws:
        assert "server_no_context_takeover" in (offered_extensions(ws) or "")
        for _ in range(3):
            assert await ask(ws, "large") == LARGE_JSON
        flag = json.loads(await ask(ws, "scope"))["reznet.permessage_deflate"]
    assert flag["server_no_context_takeover"] is True


async def test_null_origin_still_allowed(script_server: ServerProcess) -> None:
    # daphne sets allowNullOrigin=True; a second setProtocolOptions call would reset it to False
    # and autobahn would answer 400 to sandboxed iframes and file:// pages (Origin: null).
    url = f"ws://127.0.0.1:{script_server.port}/ws/"
    async with ws_connect(url, additional_headers={"Origin": "null"}) as ws:
        assert "reznet.permessage_deflate" in json.loads(await ask(ws, "scope"))


async def test_flags_turn_off_excluded_paths_and_bound_outgoing_messages() -> None:
    argv = script_argv(
        "--deflate-exclude-path", "/plain/", "--websocket-max-message-size", "100000",
        "--deflate-level", "9", "--deflate-server-window-bits", "9",
    )  # fmt: skip
    with serving(argv, env=NO_SETTINGS) as server:
        base = f"ws://127.0.0.1:{server.port}"
        async with ws_connect(f"{base}/plain/chat/") as ws:
            assert offered_extensions(ws) is None
            assert json.loads(await ask(ws, "scope")) == {}
        async with ws_connect(f"{base}/ws/") as ws:
            assert offered_extensions(ws) is not None
            flag = json.loads(await ask(ws, "scope"))["reznet.permessage_deflate"]
            assert (flag["level"], flag["server_max_window_bits"]) == (9, 9)
            # Over the limit: refused before compression, so the shared context stays intact.
            assert await ask(ws, "send-bytes:150000") == "refused"
            assert await ask(ws, "large") == LARGE_JSON
    with serving(script_argv("--no-permessage-deflate"), env=NO_SETTINGS) as server:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            assert offered_extensions(ws) is None
            assert json.loads(await ask(ws, "scope")) == {}


async def test_deflate_level_reaches_the_compressor() -> None:
    # Level 0 writes stored blocks: a compressed frame larger than the message proves the level
    # (autobahn alone always compresses at zlib's default).
    with serving(script_argv("--deflate-level", "0"), env=NO_SETTINGS) as server:
        _, first, length = await large_over_proxy(server.port)
    assert first == 0xC1
    assert length > len(LARGE)


async def test_command_line_overrides_django_settings() -> None:
    env = {**RUNSERVER_ENV, "REZNET_TEST_DEFLATE_OFF": "1"}
    with serving(script_argv(), env=env) as server:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            assert offered_extensions(ws) is None
    with serving(script_argv("--permessage-deflate"), env=env) as server:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            assert offered_extensions(ws) is not None


def test_invalid_flag_is_a_usage_error() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "reznet_ws.server.cli", "--deflate-mem-level", "12", "x:y"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **NO_SETTINGS},
    )
    assert result.returncode == 2
    assert "--deflate-mem-level" in result.stderr


# ----------------------------------------------------------------------------- bombs


def _client_frame(payload: bytes, opcode: int, *, fin: bool = True, rsv1: bool = False) -> bytes:
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 65536:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload  # a zero mask key leaves the payload as it is


def _deflated_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH)[:-4])  # RFC 7692 drops 00 00 ff ff
    return b"".join(parts)


def _bomb_frames(fragments: int) -> bytes:
    bomb = _deflated_zeros(BOMB_SIZE)
    step = -(-len(bomb) // fragments)
    parts = [bomb[i : i + step] for i in range(0, len(bomb), step)]
    return b"".join(
        _client_frame(part, 2 if i == 0 else 0, fin=i == len(parts) - 1, rsv1=i == 0)
        for i, part in enumerate(parts)
    )


def _vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def _send_raw(port: int, data: bytes) -> bytes:
    """Handshake offering permessage-deflate, send ``data``, return what the server answers.

    The answer is what arrived before the connection ended: the server aborts it (a reset) when
    the client does not finish the closing handshake, so a reset keeps the bytes read so far.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode()
    )
    answer = bytearray()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLIENT_TIMEOUT)
        assert b"permessage-deflate" in head, head
        writer.write(data)
        await writer.drain()
        while chunk := await asyncio.wait_for(reader.read(1 << 16), CLIENT_TIMEOUT):
            answer += chunk
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return bytes(answer)


def _close_code(data: bytes) -> int | None:
    """Return the code of the close frame ``data`` starts with (server frames are unmasked)."""
    if len(data) < 4 or data[0] & 0x0F != 0x8 or data[1] & 0x80:
        return None
    return int.from_bytes(data[2:4], "big")


@pytest.fixture(scope="module")
def bomb_server() -> Iterator[ServerProcess]:
    with serving(script_argv("-v", "2"), env=NO_SETTINGS) as server:  # -v 2: autobahn's log
        yield server


@pytest.mark.parametrize("fragments", [1, 100])
async def test_compression_bomb_is_refused_without_memory_growth(
    bomb_server: ServerProcess, fragments: int
) -> None:
    url = f"ws://127.0.0.1:{bomb_server.port}/ws/"
    async with ws_connect(url) as ws:  # warm up: first connection's allocations are not the bomb's
        assert await ask(ws, "large") == LARGE_JSON
    pid = bomb_server.proc.pid
    peak_before = _vm_kb(pid, "VmHWM")

    answer = await _send_raw(bomb_server.port, _bomb_frames(fragments))

    # reznet-daphne fails the connection with a close frame 1009 (message too big), not a bare
    # TCP drop as plain daphne does, and never answers the bomb with a text frame.
    assert _close_code(answer) == 1009, answer[:16]
    assert _vm_kb(pid, "VmHWM") - peak_before < BOMB_RSS_BUDGET_KB
    assert bomb_server.proc.poll() is None
    async with ws_connect(url) as ws:
        assert await ask(ws, "still here") == "still here"
    assert "exceeds payload limit of 1048576 octets after decompression" in bomb_server.output()


# ----------------------------------------------------------------------------- runserver


async def test_runserver_negotiates_and_records_wire_bytes() -> None:
    with serving(runserver_argv(), env=RUNSERVER_ENV) as server:
        ws, first, length = await large_over_proxy(server.port)
        assert offered_extensions(ws) == "permessage-deflate; client_max_window_bits=12"
        assert first == 0xC1
        stats = await _wire_stats(server.port, at_least=length)
    assert "permessage-deflate: on (level 6" in server.output()
    assert stats["wire_bytes_sent"] >= length
    assert stats["wire_bytes_received"] > 0


async def _wire_stats(port: int, at_least: int) -> dict[str, int]:
    """Ask the app for the recorder's wire counters until the closed connection shows up.

    The deadline bounds a hang only: the caller's asserts then say what is missing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLIENT_TIMEOUT
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/") as ws:
        while True:
            stats: dict[str, int] = json.loads(await ask(ws, "wire-stats"))
            if stats.get("wire_bytes_sent", 0) >= at_least or loop.time() > deadline:
                return stats
            await asyncio.sleep(0.1)  # poll interval, not a wait for a condition


async def test_runserver_no_permessage_deflate() -> None:
    with serving(runserver_argv("--no-permessage-deflate"), env=RUNSERVER_ENV) as server:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/") as ws:
            assert offered_extensions(ws) is None
            assert json.loads(await ask(ws, "scope")) == {}
    assert "permessage-deflate: off" in server.output()
