"""genzoo explore: the slider maths (locks), and every endpoint of the app with good and bad input,
through Starlette's test client over tiny trained runs."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from genzoo.explore import directions  # noqa: E402
from genzoo.explore.app import create_app  # noqa: E402
from genzoo.explore.session import ExploredRun  # noqa: E402
from genzoo.train import train  # noqa: E402
from tests.conftest import tiny_spec  # noqa: E402


# ------------------------------------------------------------------------------ slider maths
def _sliders(k: int = 3, d: int = 6, seed: int = 0) -> directions.Sliders:
    g = torch.Generator().manual_seed(seed)
    hi, lo = torch.randn(k, d, generator=g), torch.randn(k, d, generator=g)
    return directions.from_centroids([f"a{i}" for i in range(k)], hi, lo, ["lo"] * k, ["hi"] * k)


def test_a_centroid_slider_reads_0_at_the_low_mean_and_1_at_the_high_mean():
    g = torch.Generator().manual_seed(1)
    hi, lo = torch.randn(2, 5, generator=g), torch.randn(2, 5, generator=g)
    s = directions.from_centroids(["x", "y"], hi, lo, ["l", "l"], ["h", "h"])
    assert s.values(lo[0])[0].item() == pytest.approx(0.0, abs=1e-9)
    assert s.values(hi[0])[0].item() == pytest.approx(1.0, abs=1e-9)
    assert s.values(hi[1])[1].item() == pytest.approx(1.0, abs=1e-9)


def test_moving_a_slider_sets_it_and_keeps_every_locked_value():
    s = _sliders()
    z = torch.randn(6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    before = s.values(z)
    out = directions.move(s, z, "a0", 1.7, locked=["a1", "a2"])
    after = s.values(out)
    assert after[0].item() == pytest.approx(1.7, abs=1e-9)
    assert torch.allclose(after[1:], before[1:], atol=1e-9)


def test_the_move_is_the_smallest_one_along_the_direction_orthogonal_to_the_locks():
    s = _sliders()
    z = torch.randn(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = directions.move(s, z, "a0", -0.4, locked=["a1"])
    delta = out - z
    # the least-norm change lies in the span of the rows it constrains ...
    w = s.w[[0, 1]]
    coef = torch.linalg.lstsq(w.T, delta[:, None]).solution
    assert torch.allclose(w.T @ coef, delta[:, None], atol=1e-9)
    # ... and, with one lock, is a multiple of w_a made orthogonal to w_locked (Gram-Schmidt)
    u = s.w[1] / s.w[1].norm()
    ortho = s.w[0] - (s.w[0] @ u) * u
    cos = (delta @ ortho) / (delta.norm() * ortho.norm())
    assert abs(cos.item()) == pytest.approx(1.0, abs=1e-9)


def test_unlocked_move_changes_only_along_its_own_direction():
    s = _sliders()
    z = torch.zeros(6, dtype=torch.float64)
    out = directions.move(s, z, "a2", 0.5)
    delta = out - z
    cos = (delta @ s.w[2]) / (delta.norm() * s.w[2].norm())
    assert cos.item() == pytest.approx(1.0, abs=1e-9)


def test_a_slider_fixed_by_the_locked_ones_cannot_move():
    hi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = directions.from_centroids(["x", "y", "x+y"], hi, torch.zeros(3, 2), ["0"] * 3, ["1"] * 3)
    with pytest.raises(directions.LockedOut, match="x\\+y is fixed by the locked sliders"):
        directions.move(s, torch.zeros(2), "x+y", 0.9, locked=["x", "y"])


def test_redrawing_restores_the_locked_values_exactly():
    s = _sliders(k=2, d=8)
    z_new = torch.randn(8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = directions.restore(s, z_new, {"a1": 0.25})
    assert s.values(out)[1].item() == pytest.approx(0.25, abs=1e-9)
    assert torch.equal(directions.restore(s, z_new, {}), z_new)


def test_principal_directions_read_standard_deviations():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(400, 3, generator=g, dtype=torch.float64) * torch.tensor([5.0, 2.0, 0.5]) + 3
    s = directions.principal_codes(z, 2)
    v = torch.stack([s.values(zi) for zi in z])
    assert torch.allclose(v.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(v.std(0), torch.ones(2, dtype=torch.float64), atol=1e-9)
    assert abs(s.w[0, 0].item()) > 10 * abs(s.w[0, 1:]).max().item()  # PC1 is the widest axis


def test_principal_image_directions_recover_a_linear_generator():
    g = torch.Generator().manual_seed(6)
    z = torch.randn(500, 4, generator=g, dtype=torch.float64)
    a = torch.zeros(4, 10, dtype=torch.float64)
    a[2, :] = 3.0  # the images vary most along z[2]
    a[0, :5] = 0.5
    s = directions.principal_images(z, z @ a, 1)
    w = s.w[0] / s.w[0].norm()
    assert abs(w[2].item()) > 0.95


# ------------------------------------------------------------------------------ the app
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    out = {}
    for kind, steps in (("ae", 30), ("vae", 30), ("dcgan", 10), ("cddpm", 10), ("realnvp", 10)):
        out[kind] = train(tiny_spec(kind, steps=steps, threads=1), root / kind, progress=False)
    return out


@pytest.fixture(scope="module")
def client(runs):
    app = create_app([runs[k] for k in ("ae", "vae", "dcgan", "cddpm", "realnvp")])
    with TestClient(app) as c:
        ids = {r["model_type"]: r["id"] for r in c.get("/api/runs").json()["runs"]}
        c.ids = ids  # type: ignore[attr-defined]
        yield c


def _png(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def _upload(size=(8, 8), mode="L") -> str:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "genzoo explore" in page.text
    for f in ("app.js", "style.css"):
        assert client.get(f"/static/{f}").status_code == 200
    assert "http" not in page.text.replace("http://www.w3.org", "")  # nothing fetched from outside


def test_runs_list_what_each_model_can_do(client):
    runs = {r["model_type"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"ae", "vae", "dcgan", "cddpm", "realnvp"}
    assert "encoder" in runs["ae"]["capabilities"] and "encoder" not in runs["dcgan"]["capabilities"]
    assert runs["cddpm"]["class_names"] and runs["cddpm"]["samplers"]
    assert runs["cddpm"]["default_sampler"]["sampler"] == "dpm++sde"  # the explorer preselects it
    assert runs["vae"]["test_examples"] > 0 and "path" not in runs["vae"]  # the page never sees paths


def test_the_same_seed_gives_the_same_samples(client):
    body = {"run": client.ids["dcgan"], "seed": 7, "n": 4}
    a, b = client.post("/api/sample", json=body).json(), client.post("/api/sample", json=body).json()
    assert a["images"] == b["images"] and len(a["images"]) == 4
    c = client.post("/api/sample", json=body | {"seed": 8}).json()
    assert c["images"] != a["images"]
    assert _png(a["images"][0]).size == (8, 8)


def test_a_prompt_picks_the_class_and_guidance_is_taken(client):
    body = {
        "run": client.ids["cddpm"],
        "seed": 1,
        "n": 2,
        "prompt": "a picture of a seven",
        "guidance": 2,
        "steps": 3,
    }
    out = client.post("/api/sample", json=body).json()
    assert out["class"] == 7
    bad = client.post("/api/sample", json=body | {"prompt": "ankle boots"})
    assert bad.status_code == 400 and "no class matches" in bad.json()["error"]
    nocls = client.post("/api/sample", json={"run": client.ids["ae"], "seed": 1, "class": "3"})
    assert nocls.status_code == 400 and "class-conditional" in nocls.json()["error"]


def test_encode_reconstructs_and_interpolation_ends_at_the_codes(client):
    rid = client.ids["ae"]
    a = client.post("/api/encode", json={"run": rid, "index": 0}).json()
    b = client.post("/api/encode", json={"run": rid, "index": 1}).json()
    assert len(a["code"]) == 4 and _png(a["image"]).size == (8, 8)
    at0 = client.post("/api/interpolate", json={"run": rid, "a": a["code"], "b": b["code"], "t": 0}).json()
    assert at0["image"] == a["image"]  # t = 0 decodes A's code: A's reconstruction
    mid = client.post(
        "/api/interpolate", json={"run": rid, "a": a["code"], "b": b["code"], "t": 0.5, "mode": "slerp"}
    )
    assert mid.status_code == 200
    up = client.post("/api/encode", json={"run": rid, "image": _upload((30, 20), "RGB")})
    assert up.status_code == 200 and _png(up.json()["input"]).size == (8, 8)


def test_sliders_move_and_locks_hold_over_http(client):
    rid = client.ids["vae"]
    info = client.get("/api/sliders", params={"run": rid}).json()
    names = [s["name"] for s in info["sliders"]]
    assert "thickness" in names and "class 7" in names and "PC1" in names
    assert len(info["dimensions"]) == 4
    start = client.post("/api/redraw", json={"run": rid, "seed": 3}).json()
    moved = client.post(
        "/api/slide",
        json={"run": rid, "code": start["code"], "name": "thickness", "value": 1.5, "locked": ["slant"]},
    ).json()
    i, j = names.index("thickness"), names.index("slant")
    assert moved["values"][i] == pytest.approx(1.5, abs=1e-3)
    assert moved["values"][j] == pytest.approx(start["values"][j], abs=1e-3)
    assert moved["image"] != start["image"]
    redrawn = client.post(
        "/api/redraw", json={"run": rid, "seed": 99, "locked": {"thickness": moved["values"][i]}}
    ).json()
    assert redrawn["values"][i] == pytest.approx(moved["values"][i], abs=1e-3)
    assert redrawn["code"] != moved["code"]


def test_gan_sliders_come_from_its_samples(client):
    rid = client.ids["dcgan"]
    names = [s["name"] for s in client.get("/api/sliders", params={"run": rid}).json()["sliders"]]
    assert "thickness" in names and "PC1" in names
    start = client.post("/api/redraw", json={"run": rid, "seed": 0}).json()
    out = client.post("/api/decode", json={"run": rid, "code": start["code"], "values": "yes"}).json()
    assert out["image"] == start["image"] and out["values"] == pytest.approx(start["values"])


def test_likelihood_in_bits_per_dim(client):
    out = client.post("/api/likelihood", json={"run": client.ids["realnvp"], "index": 2}).json()
    assert out["bits_per_dim"] > 0 and out["kind"]
    vae = client.post("/api/likelihood", json={"run": client.ids["vae"], "index": 2}).json()
    assert vae["nats"] > 0
    none = client.post("/api/likelihood", json={"run": client.ids["ae"], "index": 2})
    assert none.status_code == 400 and "has no likelihood" in none.json()["error"]


def test_inpainting_fills_the_painted_part_only(client):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # the left half is the hole
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    for kind in ("ae", "cddpm"):
        out = client.post("/api/inpaint", json={"run": client.ids[kind], "index": 0, "mask": url, "steps": 3})
        assert out.status_code == 200, out.text
        filled = torch.from_numpy(np.asarray(_png(out.json()["image"])).copy())
        ex = client.get("/api/examples", params={"run": client.ids[kind]}).json()["images"][0]
        orig = torch.from_numpy(np.asarray(_png(ex)).copy())
        assert torch.equal(filled[:, 4:], orig[:, 4:])  # the known half is kept
    blank = Image.new("L", (8, 8), 0)
    buf = io.BytesIO()
    blank.save(buf, format="PNG")
    none = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    bad = client.post("/api/inpaint", json={"run": client.ids["ae"], "index": 0, "mask": none})
    assert bad.status_code == 400 and "hides no pixel" in bad.json()["error"]


def test_training_history_has_pictures_and_loss_curves(client):
    out = client.get("/api/training", params={"run": client.ids["vae"]}).json()
    assert out["frames"] and out["frames"][-1]["step"] == 30
    assert "loss" in out["curves"] and len(out["curves"]["loss"]) >= 2


@pytest.mark.parametrize(
    "options",
    [
        {"sampler": "ddim"},
        {"sampler": "dpm++sde", "eta": 0.5},
        {"sampler": "edm", "churn": 5, "spacing": "time"},
    ],
)
def test_the_diffusion_stream_sends_every_step_then_the_sample(client, options):
    rid = client.ids["cddpm"]
    with client.stream("GET", "/api/stream", params={"run": rid, "seed": 4, "steps": 3, **options}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e.get("step") for e in events[:-1]] == [1, 2, 3]  # edm: one event per step (2 network calls)
    assert events[-1]["done"] and events[-1]["image"].startswith("data:image/png")
    same = client.post("/api/sample", json={"run": rid, "seed": 4, "n": 1, "steps": 3, **options}).json()
    assert events[-1]["image"] == same["images"][0]  # the streamed sample is the seed's sample
    bad = client.get("/api/stream", params={"run": client.ids["ae"], "seed": 1})
    assert bad.status_code == 400 and "iterative" in bad.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/sample", {"run": "nope", "seed": 1}, 404, "unknown run"),
        ("/api/sample", {"run": "r0", "seed": -1}, 400, "seed must be a whole number"),
        ("/api/sample", {"run": "r0", "seed": 1, "n": 10_000}, 400, "n must be"),
        ("/api/sample", {"run": "r0"}, 400, "seed is required"),
        ("/api/decode", {"run": "r0", "code": [1, 2]}, 400, "list of 4 numbers"),
        ("/api/decode", {"run": "r0", "code": [1, 2, 3, "x"]}, 400, "numbers only"),
        ("/api/decode", {"run": "r0", "code": [1e300, 0, 0, 0]}, 400, "finite numbers"),
        (
            "/api/slide",
            {"run": "r0", "code": [0, 0, 0, 0], "name": "nope", "value": 1},
            400,
            "name must be one of",
        ),
        (
            "/api/slide",
            {"run": "r0", "code": [0, 0, 0, 0], "name": "PC1", "value": "NaN"},
            400,
            "value must be",
        ),
        ("/api/encode", {"run": "r0", "image": "data:image/png;base64,AAAA"}, 400, "not an image"),
        ("/api/encode", {"run": "r0", "image": "not base64 at all!"}, 400, "not an image"),
        ("/api/encode", {"run": "r0", "index": 999}, 400, "index must be"),
        ("/api/encode", {"run": "r2", "index": 0}, 400, "has no encoder"),
        ("/api/interpolate", {"run": "r0", "a": [0] * 4, "b": [0] * 4, "t": 2}, 400, "t must be"),
        (
            "/api/sample",
            {"run": "r3", "seed": 1, "sampler": "edm", "churn": -1},
            400,
            "churn must be a number",
        ),
        (
            "/api/sample",
            {"run": "r3", "seed": 1, "sampler": "ddim", "spacing": "cos"},
            400,
            "spacing must be one of",
        ),
        # edm's Heun steps cost 2 network calls each: 64 x 40 steps is 64 x 79 calls (ddim's 64 x 40 passes)
        (
            "/api/sample",
            {"run": "r3", "seed": 1, "n": 64, "steps": 40, "sampler": "edm"},
            400,
            "64 samples x 79 network evaluations",
        ),
    ],
)
def test_every_bad_input_is_one_clear_answer(client, path, body, status, words):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"] and "\n" not in r.json()["error"]


def test_malformed_bodies_and_oversized_uploads_are_refused(client):
    r = client.post("/api/sample", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = client.post("/api/sample", json=[1, 2])
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    big = "data:image/png;base64," + "A" * (3 * 1024 * 1024)
    r = client.post("/api/encode", json={"run": "r0", "image": big})
    assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_a_full_queue_answers_429(runs):
    er = ExploredRun("q", runs["ae"], max_queue=1)
    import threading

    gate = threading.Event()
    er.submit(gate.wait)  # occupies the worker and the one place in the queue
    try:
        with TestClient(create_app([er])) as c:
            r = c.post("/api/sample", json={"run": "q", "seed": 0})
            assert r.status_code == 429 and "busy" in r.json()["error"]
    finally:
        gate.set()
        er.close()


def test_the_command_says_how_to_make_a_run_when_there_is_none(tmp_path, monkeypatch, capsys):
    from genzoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["explore"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no runs to explore under ./runs" in err and "genzoo train" in err


def test_the_command_warns_off_localhost_and_finds_runs_under_runs(runs, tmp_path, monkeypatch, capsys):
    import shutil

    import uvicorn

    from genzoo.cli import main
    from genzoo.explore import find_runs

    shutil.copytree(runs["ae"], tmp_path / "runs" / "lab" / "ae")
    monkeypatch.chdir(tmp_path)
    assert find_runs("runs") == [Path("runs/lab/ae")]

    async def no_serving(self, sockets=None):  # the app is built; no socket is opened
        return None

    monkeypatch.setattr(uvicorn.Server, "serve", no_serving)
    assert main(["explore", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


def test_every_family_answers_every_panel_it_declares(tmp_path):
    """Each registered family, trained 2 steps: the page's requests for its panels all succeed."""
    from genzoo.registry import list_models

    paths = []
    for kind in list_models():
        data = {"name": "sines"} if kind == "seq-ae" else None
        spec = tiny_spec(kind, data=data, steps=2, threads=1, image_every=2, ckpt_every=2, warmup_steps=0)
        paths.append(train(spec, tmp_path / kind, progress=False))
    with TestClient(create_app(paths)) as c:
        for r in c.get("/api/runs").json()["runs"]:
            rid, can = r["id"], set(r["capabilities"])
            assert c.post("/api/sample", json={"run": rid, "seed": 1, "n": 2}).status_code == 200, r
            assert c.get("/api/training", params={"run": rid}).status_code == 200
            assert len(c.get("/api/examples", params={"run": rid}).json()["images"]) == r["test_examples"]
            if "decoder" in can:
                names = [s["name"] for s in c.get("/api/sliders", params={"run": rid}).json()["sliders"]]
                start = c.post("/api/redraw", json={"run": rid, "seed": 2}).json()
                moved = c.post(
                    "/api/slide", json={"run": rid, "code": start["code"], "name": names[0], "value": 0.5}
                )
                assert moved.status_code == 200, (r["model_type"], moved.text)
                assert moved.json()["values"][0] == pytest.approx(0.5, abs=1e-3)
            if "encoder" in can:
                assert c.post("/api/encode", json={"run": rid, "index": 0}).status_code == 200
            if "likelihood" in can:
                out = c.post("/api/likelihood", json={"run": rid, "index": 0})
                assert out.status_code == 200 and out.json()["bits_per_dim"] == out.json()["bits_per_dim"]


def test_a_sample_request_is_costed_with_the_models_own_defaults():
    """No sampler or steps in the request: the model's config decides them, and the cost check
    counts what it will run (a ddpm-default model: all T steps), not one step."""
    from types import SimpleNamespace

    from genzoo.explore.app import network_evals
    from genzoo.models.diffusion import DDPMConfig

    def run_of(**config):
        model = SimpleNamespace(sample_options=frozenset({"sampler", "steps"}), config=DDPMConfig(**config))
        return SimpleNamespace(model=model)

    assert network_evals(run_of(sampler="ddpm", timesteps=1000), {}) == 1000
    assert network_evals(run_of(sampler="dpm++", sample_steps=20), {}) == 20
    assert network_evals(run_of(sampler="edm", sample_steps=20), {}) == 39
    assert network_evals(run_of(sampler="ddpm", timesteps=1000), {"sampler": "ddim", "steps": 50}) == 50
    assert network_evals(run_of(timesteps=300), {"sampler": "ddpm"}) == 300
    gan = SimpleNamespace(model=SimpleNamespace(sample_options=frozenset(), config=None))
    assert network_evals(gan, {}) == 1
