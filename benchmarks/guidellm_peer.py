"""GuideLLM as a peer in ``benchmarks/accuracy.py``: run from its own virtualenv, never a dependency.

    python3 -m venv ~/guidellm-venv && ~/guidellm-venv/bin/pip install guidellm
    python benchmarks/accuracy.py --guidellm ~/guidellm-venv/bin/guidellm

Each level runs ``guidellm run`` (0.8: a JSON scenario; concurrent profile, ``level`` streams,
``n`` requests) against the same simulator, with prompts that carry a tag of this run, so each of
its requests is matched to the simulator's truth by its prompt. GuideLLM records wall-clock times
(``time.time()``): its request start and first token are put on the ``perf_counter`` clock with the
offset between the two clocks read here (one machine, one clock source). It records no per-chunk
times, so it has no ITL error. Its CPU is its whole process tree's (``os.wait4``: GuideLLM's worker
processes included), start-up included, as for every client.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tokenrace.bench.calibrate import PeerRun


def _truth_ids(base_url: str) -> dict[str, str]:
    """prompt -> the simulator's request id (the simulator in its own process answers over HTTP)."""
    root, _, _ = base_url.rpartition("/v1")
    sim, _, profile = root.rpartition("/")
    with urllib.request.urlopen(f"{sim}/_sim/requests?profile={profile}") as resp:
        return {d["prompt"]: d["request_id"] for d in json.load(resp)}


def peer(exe: str):
    """A calibration peer (``url, level, n -> PeerRun``) that runs the GuideLLM executable ``exe``."""
    async def run(base_url: str, level: int, n: int) -> PeerRun:
        return await asyncio.to_thread(_run, exe, base_url, level, n)
    return run


def _run(exe: str, base_url: str, level: int, n: int) -> PeerRun:
    tag = uuid.uuid4().hex[:8]
    prompts = [f"Calibrate the clock {tag}-{i}." for i in range(n)]
    target = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "prompts.jsonl"
        data.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        spec = {"spec": {
            "backend": {"kind": "openai_http", "target": target, "model": "m", "validate_backend": False,
                        "request_format": "/v1/chat/completions"},
            "profile": {"kind": "concurrent", "streams": level},
            "data": [{"kind": "json_file", "path": str(data)}],
            "constraints": [{"kind": "max_requests", "count": n}]}}
        scenario = Path(tmp) / "scenario.json"
        scenario.write_text(json.dumps(spec))
        out = Path(tmp) / "out.json"
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.Popen([exe, "run", "-c", str(scenario), "--output", f"kind=json,path={out}",
                                 "--disable-console"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, cwd=tmp)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 or not out.exists():
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"guidellm exited with {proc.returncode}: {tail[0]}")
        doc = json.loads(out.read_text())
    offset_ns = time.time_ns() - time.perf_counter_ns()      # wall - perf, the same in every process

    def perf(wall: float | None) -> int | None:
        return None if wall is None else int(wall * 1e9) - offset_ns

    ids = _truth_ids(base_url)
    measured: list[Any] = []
    for group in ("successful", "errored", "incomplete"):
        for r in doc["benchmarks"][0]["requests"].get(group) or []:
            body = json.loads(r["request_args"])["body"]
            content = body["messages"][0]["content"]
            prompt = content if isinstance(content, str) else "".join(c.get("text", "") for c in content)
            t = r["info"]["timings"]
            start, first = perf(t.get("request_start")), perf(t.get("first_token_iteration"))
            ok = group == "successful" and start is not None and first is not None
            measured.append((ids.get(prompt, ""), start or 0, [(first, r.get("output") or "")] if ok else [], ok))
    return PeerRun(measured, usage.ru_utime + usage.ru_stime, None, {}, "guidellm")
