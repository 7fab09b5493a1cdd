"""``bench --redis`` with ``tokenrace worker`` processes: a real redis-server, real worker processes
(each with its own in-process simulator or the test's upstream), the bench in this process.

A merged report from two workers; a worker killed mid-run has its unfinished requests failed with
the reason; no secret ever reaches Redis (every command it received, watched with MONITOR); a
worker whose config lacks a provider says so; no worker is a clear error.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.bench import records, run, summary
from tests.hostile import EchoUpstream, leaks
from tokenrace.bench.coordinator import NoWorkers
from tokenrace.bench.session import Distributed
from tokenrace.redisconn import connect

pytestmark = pytest.mark.timeout(180)

PLAN = """\
prompts: ["one", "two", "three"]
params: {max_tokens: 8}
repetitions: 4
load: {concurrency: [1, 4]}
seed: 3
"""
# slow enough that a request is still in flight when a worker is killed: 1 s per request
SLOW_SIM = """\
simulator:
  - {name: slow, ttft_ms: 200, itl_ms: 80, answer_tokens: 10}
"""


async def _until(cond, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Workers:
    """``tokenrace worker`` processes for one test; all stopped at its end."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp, self.procs = url, tmp, {}  # type: ignore[var-annotated]

    async def start(self, *names: str, config: Path | None = None, env: dict[str, str] | None = None) -> None:
        for name in names:
            args = [sys.executable, "-m", "tokenrace", "worker", "--redis", self.url, "--name", name]
            if config is not None:
                args += ["-c", str(config)]
            log = open(self.tmp / f"{name}.log", "wb")
            self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                                env={**os.environ, "HOME": str(self.tmp), **(env or {})})
        r = await connect(self.url)
        try:                # present: each has written its presence key
            deadline = time.monotonic() + 60
            while not all([await r.exists(f"tokenrace:bench:worker:{n}") for n in names]):
                assert time.monotonic() < deadline, self.logs()
                assert all(self.procs[n].poll() is None for n in names), self.logs()
                await asyncio.sleep(0.05)
        finally:
            await r.aclose()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.tmp.glob("*.log"))

    def stop(self) -> list[str]:
        """SIGTERM to all; the names of those that had to be killed after 15 s."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        killed = []
        for name, p in self.procs.items():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                killed.append(name)
                p.kill()
                p.wait()
        return killed


@pytest.fixture
def workers(redis_url, tmp_path):
    w = Workers(redis_url, tmp_path)
    yield w
    assert w.stop() == [], "a worker did not stop on SIGTERM within 15 s\n" + w.logs()


async def test_a_bench_over_two_workers_gives_one_merged_report(workers, redis_url, tmp_path):
    await workers.start("wa", "wb")
    outcome = await run(tmp_path, PLAN, distributed=Distributed(redis_url, workers=2, wait_s=30))
    recs = records(tmp_path / "out")
    assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs if r["status"] != "ok"][:3]
    assert Counter((r["provider"], r["step"], r["prompt"], r["repetition"]) for r in recs) == Counter(
        itertools.product(["alpha", "beta"], [0, 1], [0, 1, 2], range(4)))
    # concurrency 1 is one slot: one worker; concurrency 4 is two slots each
    assert {r["worker"] for r in recs if r["step"] == 0} in ({"wa"}, {"wb"})
    assert Counter(r["worker"] for r in recs if r["step"] == 1) == {"wa": 12, "wb": 12}
    # durations measured on the workers, against their simulators' set TTFT (alpha 25 ms, beta 45 ms)
    for name, truth in (("alpha", 25.0), ("beta", 45.0)):
        ttfts = sorted(r["ttft_ms"] for r in recs if r["provider"] == name)
        assert truth - 1 <= ttfts[len(ttfts) // 2] <= truth + 60, (name, ttfts)
    doc = summary(tmp_path / "out")
    assert sorted((g["provider"], g["step"], g["requests"], g["ok"]) for g in doc["groups"]) == [
        ("alpha", 0, 12, 12), ("alpha", 1, 12, 12), ("beta", 0, 12, 12), ("beta", 1, 12, 12)]
    assert doc["partial"] is False and not [w for w in doc["warnings"] if "ended early" in w or "failed" in w]
    assert len(outcome.result.results) == len(recs)
    report = (tmp_path / "out" / "report.md").read_text()
    step0 = Counter(r["worker"] for r in recs)
    assert f"wa: {step0['wa']} requests, 0 failed, loop lag p99 " in report
    assert f"wb: {step0['wb']} requests, 0 failed" in (tmp_path / "out" / "report.html").read_text()
    r = await connect(redis_url)
    try:                # the job's keys are gone; only the workers' presence and the offers stream stay
        left = sorted(k.decode() for k in await r.keys("tokenrace:bench:job:*"))
        assert left == []
    finally:
        await r.aclose()


async def test_poisson_arrivals_are_dealt_in_turn_and_follow_the_seeded_plan(workers, redis_url, tmp_path):
    await workers.start("wa", "wb")
    body = "prompts: [one, two]\nparams: {max_tokens: 8}\nrepetitions: 10\nload: {rate: 40}\nseed: 11\n"
    await run(tmp_path, body, distributed=Distributed(redis_url, workers=2))
    recs = records(tmp_path / "out")
    assert len(recs) == 40 and all(r["status"] == "ok" for r in recs)
    for name in ("alpha", "beta"):           # 20 arrivals each: 10 per worker
        assert Counter(r["worker"] for r in recs if r["provider"] == name) == {"wa": 10, "wb": 10}


async def test_a_worker_killed_mid_run_has_its_unfinished_requests_failed_with_the_reason(
        workers, redis_url, tmp_path):
    await workers.start("wa", "wb")
    pools = []
    body = "prompts: [one, two]\nrepetitions: 4\nload: {concurrency: [4]}\nseed: 1\n"
    task = asyncio.create_task(run(tmp_path, body, sim=SLOW_SIM, on_runner=pools.append,
                                   distributed=Distributed(redis_url, workers=2, lease_s=3)))
    await _until(lambda: pools and any(r["worker"] == "wb" for r in pools[0].records), what="a record from wb")
    workers.procs["wb"].send_signal(signal.SIGKILL)
    outcome = await asyncio.wait_for(task, 120)
    recs = records(tmp_path / "out")
    assert len(recs) == 8                            # every planned request has a record
    lost = [r for r in recs if r["status"] != "ok"]
    assert lost and all(r["worker"] == "wb" for r in lost)
    assert all("worker wb stopped answering" in r["error"] and r["error"].startswith("slow: ") for r in lost)
    assert all(r["status"] == "ok" for r in recs if r["worker"] == "wa")
    assert Counter(r["worker"] for r in recs) == {"wa": 4, "wb": 4}
    warning = [w for w in outcome.result.warnings if "wb" in w]
    assert warning and f"its {len(lost)} unfinished requests are recorded as failed" in warning[0]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "worker wb stopped answering" in report and f"wb: 4 requests, {len(lost)} failed" in report


async def test_no_secret_reaches_redis_or_the_report_from_an_upstream_that_echoes_it(
        workers, redis_url, tmp_path, monkeypatch):
    from tests.test_key_echo import KEY, echo_yaml

    echo = await EchoUpstream().start()
    monitor = await _monitor(redis_url)
    try:
        cfg = tmp_path / "providers.yaml"
        cfg.write_text(echo_yaml(echo))
        monkeypatch.setenv("ECHO_KEY", KEY)          # the bench's own config reads it too; it never sends it
        await workers.start("wa", "wb", config=cfg, env={"ECHO_KEY": KEY})
        body = f"config: {cfg}\nprompts: [hello]\nrepetitions: 2\nload: {{concurrency: [2]}}\n"
        await run(tmp_path, body, sim="", distributed=Distributed(redis_url, workers=2))
    finally:
        await echo.stop()
        seen = await monitor.stop()
    assert any(KEY in r["headers"].get("Authorization", "") for r in echo.requests)     # it was echoed
    assert b"XADD" in seen and b"rec" in seen and leaks(seen, KEY) == []
    recs = records(tmp_path / "out")
    assert {r["worker"] for r in recs} == {"wa", "wb"}
    assert any("***" in (r["error"] or "") for r in recs)
    for path in (tmp_path / "out").iterdir():
        assert leaks(path.read_bytes(), KEY) == [], path.name
    assert leaks(workers.logs(), KEY) == []


async def test_a_worker_without_a_provider_says_so_and_its_share_fails_with_that(workers, redis_url, tmp_path):
    cfg = tmp_path / "other.yaml"
    cfg.write_text("providers:\n  - {name: alpha, kind: openai, model: other, base_url: 'http://127.0.0.1:9/v1'}\n")
    await workers.start("wa")
    await workers.start("wb", config=cfg)
    outcome = await run(tmp_path, PLAN.replace("[1, 4]", "[2]"), distributed=Distributed(redis_url, workers=2))
    recs = records(tmp_path / "out")
    assert len(recs) == 24 and Counter(r["worker"] for r in recs) == {"wa": 12, "wb": 12}
    bad = [r for r in recs if r["worker"] == "wb"]
    assert all(r["status"] == "error" for r in bad)
    assert "worker wb: provider 'alpha' is kind openai, model other here but kind openai, model " \
        "sim-model on the bench" in bad[0]["error"] and str(cfg) in bad[0]["error"]
    assert all(r["status"] == "ok" for r in recs if r["worker"] == "wa")
    assert any("wb" in w and "12 unfinished" in w for w in outcome.result.warnings)


async def test_stopping_the_bench_stops_its_workers_and_keeps_what_finished(workers, redis_url, tmp_path):
    await workers.start("wa", "wb")
    pools = []
    body = "prompts: [one, two]\nrepetitions: 6\nload: {concurrency: [4]}\nseed: 1\n"
    task = asyncio.create_task(run(tmp_path, body, sim=SLOW_SIM, on_runner=pools.append,
                                   distributed=Distributed(redis_url, workers=2)))
    await _until(lambda: pools and len(pools[0].records) >= 2, what="two records")
    pools[0].stop()                                  # what Ctrl+C does
    outcome = await asyncio.wait_for(task, 60)
    recs = records(tmp_path / "out")
    assert outcome.result.partial and 2 <= len(recs) < 12
    assert all(r["status"] == "ok" for r in recs)    # stopped requests are not failures
    assert summary(tmp_path / "out")["partial"] is True


async def test_a_worker_whose_bench_dies_stops_its_share_and_takes_the_next(workers, redis_url, tmp_path):
    await workers.start("wa")
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW_SIM + "prompts: [one]\nrepetitions: 40\nload: {concurrency: [1]}\n")
    bench = subprocess.Popen([sys.executable, "-m", "tokenrace", "bench", str(path), "--redis", redis_url,
                              "--worker-lease", "1.5", "--no-progress", "--no-history", "--out", str(tmp_path / "gone")],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "HOME": str(tmp_path)})
    r = await connect(redis_url)
    try:
        async def job() -> object:
            raw = await r.get("tokenrace:bench:worker:wa")
            return json.loads(raw).get("job") if raw else None

        deadline = time.monotonic() + 60
        while await job() is None:                   # the worker has taken the bench's share
            assert time.monotonic() < deadline and bench.poll() is None, workers.logs()
            await asyncio.sleep(0.05)
        bench.kill()
        bench.wait()
        deadline = time.monotonic() + 30
        while await job() is not None:               # its lease expires: the worker lets the share go
            assert time.monotonic() < deadline, workers.logs()
            await asyncio.sleep(0.05)
    finally:
        await r.aclose()
    await run(tmp_path, PLAN.replace("[1, 4]", "[2]"), distributed=Distributed(redis_url, workers=1))
    recs = records(tmp_path / "out")
    assert len(recs) == 24 and all(r["status"] == "ok" and r["worker"] == "wa" for r in recs)
    assert "is gone; stopping its share" in workers.logs()
    r = await connect(redis_url)
    try:                # the dead bench's keys went with it
        assert sorted(k.decode() for k in await r.keys("tokenrace:bench:job:*")) == []
    finally:
        await r.aclose()


async def test_no_worker_is_a_clear_error_that_says_how_to_start_one(redis_url, tmp_path):
    with pytest.raises(NoWorkers) as e:
        await run(tmp_path, PLAN, distributed=Distributed(redis_url, wait_s=0.3))
    assert "tokenrace worker --redis URL" in str(e.value) and "0 found" in str(e.value)
    assert "Redis at redis://127.0.0.1:" in str(e.value)


async def _bench_cli(tmp_path: Path, url: str) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(PLAN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", "bench", str(path), "--redis", url, "--wait-workers", "0.2",
        "--no-progress", "--no-history", "--out", str(tmp_path / "out"), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "HOME": str(tmp_path)})
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode()


async def test_the_cli_says_no_worker_or_bad_credentials_without_a_traceback_or_the_password(redis_url, tmp_path):
    code, text = await _bench_cli(tmp_path, redis_url)
    assert code == 1 and "Traceback" not in text and "tokenrace worker --redis URL" in text, text
    code, text = await _bench_cli(tmp_path, redis_url.replace("//", "//user:s3cretpw@"))
    assert code == 1 and "Traceback" not in text and "cannot reach Redis at redis://127.0.0.1:" in text, text
    assert "s3cretpw" not in text and "user:" not in text


class _Monitor:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.buf = reader, writer, bytearray()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while chunk := await self.reader.read(65536):
            self.buf += chunk

    async def stop(self) -> bytes:
        self.writer.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return bytes(self.buf)


async def _monitor(url: str) -> _Monitor:
    """Every command the Redis server receives from now on (MONITOR), as raw bytes."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"MONITOR\r\n")
    assert (await reader.readline()).startswith(b"+OK")
    return _Monitor(reader, writer)


def test_worker_help_names_every_option():
    out = subprocess.run([sys.executable, "-m", "tokenrace", "worker", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for opt in ("--redis", "--name", "--jobs", "--config"):
        assert opt in out.stdout


async def test_a_worker_stops_on_sigterm_after_a_bench(workers, redis_url, tmp_path):
    await workers.start("wa")
    await run(tmp_path, PLAN.replace("[1, 4]", "[2]"), distributed=Distributed(redis_url, workers=1))
    proc = workers.procs["wa"]
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 15) == 0
    r = await connect(redis_url)
    try:
        assert not await r.exists("tokenrace:bench:worker:wa")      # its presence went with it
    finally:
        await r.aclose()
