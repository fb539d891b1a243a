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
from typing import Any

import pytest
from django.core.management import call_command

from benchmarks.loadgen import peek_stamp
from benchmarks.trace import make_trace
from reznet_ws.codec import Codec

from .conftest import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

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
    latency = run["latency_ms"]
    assert None not in latency.values()
    assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert run["payload_bytes_per_client"]["min"] > 0
    assert run["wire_bytes_per_client"]["min"] > 0
    assert run["server_cpu_seconds"] >= 0
    assert len(run["loadgen"]) >= 1
    assert set(run["event_bytes"]) <= {
        "message_new", "message_chunk", "agent_status", "user_typing", "workflow_plan",
    }  # fmt: skip


@pytest.mark.timeout(30)
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
    # the same trace events reach both; v2 frames are smaller than plain Channels JSON
    assert runs["ours"]["event_bytes"].keys() == runs["baseline"]["event_bytes"].keys()
    ours_bytes = runs["ours"]["payload_bytes_per_client"]["mean"]
    assert ours_bytes < runs["baseline"]["payload_bytes_per_client"]["mean"]
    markdown = out.with_suffix(".md").read_text()
    assert "| ours" in markdown and "| baseline" in markdown
    assert (tmp_path / "bench-load.svg").read_text().startswith("<svg")
    assert "| ours" in stdout.getvalue()


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
            url=[f"ws://127.0.0.1:{port}"], token="t0ken", client="websockets", out=str(out),
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
