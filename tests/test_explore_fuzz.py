"""Fuzzing the explorer: 1,000 random and malformed requests (seeded, so every run sends the same
ones) to a real server on 127.0.0.1. No answer is a server error, the server still answers
afterwards, and nothing on disk changes."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import pytest

from genzoo.train import train
from tests.conftest import tiny_spec
from tests.explore_server import serving

pytestmark = pytest.mark.slow
httpx = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

REQUESTS = 1000
PATHS = [
    "/api/runs", "/api/sample", "/api/examples", "/api/encode", "/api/decode", "/api/sliders", "/api/slide",
    "/api/redraw", "/api/interpolate", "/api/likelihood", "/api/inpaint", "/api/training", "/api/stream",
    "/", "/static/app.js", "/static/../config.json", "/static/%2e%2e/x", "/api/nope",
]  # fmt: skip
FIELDS = ["run", "seed", "n", "class", "prompt", "guidance", "sampler", "steps", "eta", "spacing", "churn", "temperature",
          "code", "a", "b", "t", "mode", "name", "value", "locked", "index", "image", "mask", "values", "show",
          "every"]  # fmt: skip


def _value(rng: random.Random, runs: list[str]):
    pick = rng.randrange(16)
    if pick == 0:
        return rng.choice(runs)
    if pick == 1:
        return rng.choice([0, 1, -1, 2**31, 2**63, 10**30, 3, 7])
    if pick == 2:
        return rng.choice([0.5, -0.0, 1e308, -1e308, 1e-320, 2.5, 100.0])
    if pick == 3:
        return rng.choice(["NaN", "Infinity", "-1", "", " ", "0x10", "1e5", "7", "seven", "ankle boots"])
    if pick == 4:
        return "".join(rng.choice("ab/\\.%\x00\u00e9\U0001f600{}[]\"'") for _ in range(rng.randrange(60)))
    if pick == 5:
        return [rng.uniform(-5, 5) for _ in range(rng.choice([0, 1, 4, 8, 16, 64, 784]))]
    if pick == 6:
        return [rng.choice([None, "x", True, [], {}]) for _ in range(rng.randrange(6))]
    if pick == 7:
        return {
            rng.choice(["thickness", "PC1", "slant", "x"]): rng.uniform(-3, 3)
            for _ in range(rng.randrange(4))
        }
    if pick == 8:
        return rng.choice([True, False, None])
    if pick == 9:
        return "data:image/png;base64," + "".join(rng.choice("AQgw+/=") for _ in range(rng.randrange(200)))
    if pick == 10:
        return rng.choice(
            [
                "ddpm",
                "ddim",
                "dpm++",
                "dpm++sde",
                "edm",
                "karras",
                "euler",
                "lerp",
                "slerp",
                "x0",
                "x_t",
                "no",
            ]
        )
    if pick == 11:
        return ["thickness", "PC1"][: rng.randrange(3)]
    return rng.randrange(-3, 40)


def _request(rng: random.Random, runs: list[str]) -> tuple[str, str, dict]:
    path = rng.choice(PATHS)
    get_only = path in ("/api/runs", "/api/stream") or not path.startswith("/api/")
    if rng.random() < 0.1:
        method = rng.choice(["PUT", "DELETE", "PATCH", "GET", "POST"])
    else:
        method = "GET" if get_only else "POST"
    kw: dict = {}
    body = {f: _value(rng, runs) for f in rng.sample(FIELDS, rng.randrange(1, 8))}
    if rng.random() < 0.8:
        body["run"] = rng.choice(runs)
    shape = rng.randrange(10)
    if method == "GET":
        kw["params"] = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in body.items()}
    elif shape == 0:
        kw["content"] = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    elif shape == 1:
        kw["content"] = ("[" * rng.choice([10, 5000, 200000])).encode()
    elif shape == 2:
        kw["content"] = json.dumps(body)[: rng.randrange(1, 80)].encode()
    elif shape == 3:
        kw["json"] = rng.choice([[], "x", 3, None, [body]])
    else:
        kw["json"] = body
    if "content" in kw:
        kw["headers"] = {"content-type": rng.choice(["application/json", "text/plain", "image/png"])}
    return method, path, kw


def _snapshot(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def test_a_thousand_bad_requests_get_no_server_error(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    paths = [
        train(tiny_spec(kind, steps=10, threads=1), root / kind, progress=False)
        for kind in ("vae", "dcgan", "cddpm")
    ]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(root, work)
    rng = random.Random(20261203)
    statuses: dict[int, int] = {}
    with serving(paths, max_queue=4) as base, httpx.Client(base_url=base, timeout=60) as client:
        ids = [r["id"] for r in client.get("/api/runs").json()["runs"]]
        runs = ids + ["r9", "", "../r0"]
        start = time.monotonic()
        for i in range(REQUESTS):
            method, path, kw = _request(rng, runs)
            r = client.request(method, path, **kw)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, f"request {i}: {method} {path} {kw} -> {r.status_code} {r.text[:300]}"
        elapsed = time.monotonic() - start
        assert client.get("/api/runs").status_code == 200  # still answering
        ok = client.post("/api/sample", json={"run": ids[0], "seed": 1, "n": 2})
        assert ok.status_code == 200
    assert _snapshot(root, work) == before
    assert sum(statuses.values()) == REQUESTS and elapsed < 600
    assert statuses.get(200, 0) > 20 and statuses.get(400, 0) > 300  # it reached the models, and refused
