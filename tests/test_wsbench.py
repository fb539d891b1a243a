"""The load harness end to end, tiny: a few clients for a second or two, real daphne processes.

These keep the harness working; they assert counts and shapes, never timings.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from benchmarks.loadgen import peek_stamp
from benchmarks.trace import make_trace
from benchmarks.wsbench.processes import proc_cpu_seconds
from benchmarks.wsbench.runner import percentile, percentile_figures
from reznet_ws.codec import Codec
from reznet_ws.management.commands.wsbench import CHECKOUT_REQUIRED

from .conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parent.parent


def assert_sane(run: dict[str, Any], clients: int, broadcasts: int) -> None:
    """Every client connected and got every broadcast once, in order, and figures are there."""
    assert run["connected"] == clients
    assert run["connect_failures"] == 0
    assert run["broadcasts"] == broadcasts
    assert run["expected_deliveries"] == clients * broadcasts
    assert run["delivered"] == clients * broadcasts
    assert run["lost"] == 0
    assert run["clients_missing_messages"] == 0
    assert run["duplicates"] == run["out_of_order"] == run["decode_errors"] == 0
    assert run["verified_frames"] > 0
    assert run["verify_mismatches"] == 0
    assert run["dropped_connections"] == 0
    assert set(run["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert None not in run["latency_ms"].values()  # nothing lost: every figure is finite
    assert run["payload_bytes_per_client"]["min"] > 0
    assert run["wire_bytes_per_client"]["min"] > 0
    assert len(run["loadgen"]) >= 1
    assert set(run["event_bytes"]) <= {
        "message_new", "message_chunk", "agent_status", "user_typing", "workflow_plan",
    }  # fmt: skip


@pytest.mark.timeout(300)
def test_the_stamp_read_from_a_frame_head_is_the_decoded_one() -> None:
    codec = Codec()
    for seq, (event, data) in enumerate(make_trace(200)):
        stamped = {"bench_seq": seq, "bench_t": 1795800643.9980216 + seq, **data}
        frames = [
            json.dumps({"event": event, "data": stamped}),  # plain Channels
            codec.finalize(codec.encode_event(event, stamped))[0],  # v2, gzip for large plans
            codec.raw_frame(event, stamped),
        ]
        for frame in frames:
            decoded = [
                (e, d["bench_seq"], d["bench_t"])  # type: ignore[index]
                for e, d in codec.decode_frame(frame)
            ]
            assert [peek_stamp(frame)] == decoded
    assert peek_stamp(codec.batch_frame([("x", codec.encode_data({"bench_seq": 1}))])) is None


@pytest.mark.timeout(300)
def test_percentiles_are_nearest_rank_and_count_the_missing_as_never_arriving() -> None:
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 51) == 30.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 0) == 10.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 100) == 40.0
    shuffled = [float(n) for n in range(100, 0, -1)]
    assert percentile_figures(shuffled) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    # 98 arrivals and 2 losses: the slowest 2 % never arrived, so p99 and max are unknown
    arrived = [float(n) for n in range(1, 99)]
    assert percentile_figures(arrived, missing=2) == {
        "p50": 50.0, "p95": 95.0, "p99": None, "max": None,
    }  # fmt: skip
    assert percentile_figures([1.234], missing=0) == dict.fromkeys(
        ("p50", "p95", "p99", "max"), 1.23
    )


@pytest.mark.timeout(300)
def test_server_cpu_seconds_are_the_process_user_plus_system_time() -> None:
    before = os.times()
    while os.times().user - before.user < 0.2:  # burn some CPU, so a wrong field shows
        sum(range(10_000))
    read = proc_cpu_seconds(os.getpid())
    times = os.times()
    assert read == pytest.approx(times.user + times.system, abs=0.02)


@pytest.mark.timeout(300)
def test_the_command_says_it_needs_a_checkout_when_benchmarks_is_another_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A project of its own with a ``benchmarks`` package, without reznet-ws's harness.
    monkeypatch.setitem(sys.modules, "benchmarks", ModuleType("benchmarks"))
    monkeypatch.delitem(sys.modules, "benchmarks.wsbench")
    with pytest.raises(CommandError) as raised:
        call_command("wsbench")
    assert str(raised.value) == CHECKOUT_REQUIRED


@pytest.mark.timeout(300)
def test_the_installed_command_outside_a_checkout_fails_with_the_checkout_message(
    tmp_path: Path,
) -> None:
    (tmp_path / "outside_settings.py").write_text(
        "SECRET_KEY = 'x'\nINSTALLED_APPS = ['reznet_ws', 'channels']\nUSE_TZ = True\n"
        "CHANNEL_LAYERS = {'default': {'BACKEND': 'channels.layers.InMemoryChannelLayer'}}\n"
        "SILENCED_SYSTEM_CHECKS = ['reznet_ws.W020']  # one process: a local cache is right\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "outside_settings", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "django", "wsbench", "--quick", "--clients", "4"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=50, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"CommandError: {CHECKOUT_REQUIRED}"


def test_wsbench_command_ours_and_baseline(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    stdout = io.StringIO()
    call_command(
        "wsbench", clients="4", rate=10, duration=1.5, drain=30, out=str(out),
        no_progress=True, stdout=stdout,
    )  # fmt: skip
    doc = json.loads(out.read_text())
    runs = {run["target"]: run for run in doc["runs"]}
    assert set(runs) == {"ours", "baseline"}
    for run in runs.values():
        assert_sane(run, clients=4, broadcasts=15)
        assert run["layer"] == "inmemory"
        assert run["layer_backend"] == "InMemoryChannelLayer"
        # the floor: one prebuilt frame to each of the 4 clients' sockets (not the control one)
        (floor,) = run["floor"]
        assert floor["sockets"] == 4 and floor["rounds"] == 20 and floor["frame_bytes"] > 100
        assert run["floor_ms_per_broadcast"] == floor["ms_per_broadcast"]
    # the same trace events reach both; v2 frames are smaller than plain Channels JSON
    assert runs["ours"]["event_bytes"].keys() == runs["baseline"]["event_bytes"].keys()
    ours_bytes = runs["ours"]["payload_bytes_per_client"]["mean"]
    assert ours_bytes < runs["baseline"]["payload_bytes_per_client"]["mean"]
    markdown = out.with_suffix(".md").read_text()
    assert "| ours" in markdown and "| baseline" in markdown
    assert (tmp_path / "bench-load.svg").read_text().startswith("<svg")
    assert "| ours" in stdout.getvalue()


def test_floor_frames_and_settings_of_the_benchmark_server() -> None:
    import socket

    from benchmarks.floor import floor_frame, measure_floor, summarize_rounds
    from benchmarks.wsbench.cli import parse_settings

    for size in (10, 200, 70_000):
        frame = floor_frame(size)
        head = 2 if size < 126 else 4 if size < 1 << 16 else 10
        assert len(frame) == head + max(size, 38) and frame[0] == 0x81
        assert json.loads(frame[head:])["event"] == "wsbench_floor"
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        spent = measure_floor([a for a, _ in pairs], floor_frame(50))
        assert all(b.recv(100) == floor_frame(50) for _, b in pairs)
    finally:
        for a, b in pairs:
            a.close()
            b.close()
    figures = summarize_rounds([spent, 0.004, 0.002], 3, floor_frame(50))
    assert figures["sockets"] == 3 and figures["ms_per_broadcast"] == round(
        sorted([spent, 0.004, 0.002])[1] * 1000, 3
    )
    assert parse_settings(["A=1", "B=false", "C=text", 'D={"x": 2}']) == {
        "A": 1,
        "B": False,
        "C": "text",
        "D": {"x": 2},
    }
    with pytest.raises(SystemExit):
        parse_settings(["novalue"])


def test_wsbench_against_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "benchmarks.bench_app:application"],
        port,
        env={"DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings", "WSBENCH_TOKEN": "t0ken"},
    )
    try:
        out = tmp_path / "url.json"
        call_command(
            "wsbench", clients="3", rate=5, duration=1, drain=30, server="ours",
            url=[f"ws://127.0.0.1:{server.port}"], token="t0ken", client="websockets", out=str(out),
            no_progress=True, stdout=io.StringIO(),
        )  # fmt: skip
    finally:
        server.stop()
    (run,) = json.loads(out.read_text())["runs"]
    assert_sane(run, clients=3, broadcasts=5)
    assert run["server_metrics"] == "the process behind the first --url only"


@pytest.mark.redis
def test_wsbench_two_servers_over_redis(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "redis.json"
    subprocess.run(
        [sys.executable, "benchmarks/wsbench.py", "--layer", "redis", "--servers", "2",
         "--clients", "6", "--rate", "10", "--duration", "1", "--drain", "30", "--server",
         "ours", "--no-progress", "--out", str(out)],
        cwd=REPO, env={**os.environ, "REDIS_URL": redis_url}, check=True, timeout=200,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (run,) = json.loads(out.read_text())["runs"]
    assert_sane(run, clients=6, broadcasts=10)
    assert run["servers"] == 2
    assert run["layer_backend"] == "RedisChannelLayer"
