"""The explorer's slider latency, measured in the browser, and its screenshots.

Trains (or reuses, under --work) an AE, a VAE and a DCGAN with their default networks on --data,
and a DDPM for the diffusion panel; serves them on 127.0.0.1 and drives Debian's chromium with
Playwright: for each decoder, --moves slider moves (attribute and latent-dimension sliders in
turn, each awaited), timed from the input event to the new picture decoded on the page
(``window.genzooLatencies``). Prints p50/p95 per model, writes docs/bench/explore.json and, with
--shots DIR, a screenshot of each panel.

    python benchmarks/bench_explore.py --data mnist --steps 1500 --moves 200 --shots docs/img
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.explore_server import CHROMIUM, CHROMIUM_ARGS, serving  # noqa: E402

DECODERS = ("ae", "vae", "dcgan")


def train_runs(work: Path, data: str, steps: int, ddpm_steps: int, reuse: bool = False) -> dict[str, Path]:
    from genzoo.run import Run
    from genzoo.train.run import run_spec, sections_of
    from genzoo.train.trainer import train

    runs = {}
    for kind, n in [(k, steps) for k in DECODERS] + [("ddpm", ddpm_steps)]:
        out = work / f"{kind}-{data}"
        done = (out / "checkpoints").is_dir() and Run(out).latest is not None
        if not done or (Run(out).latest != n and not reuse):
            shutil.rmtree(out, ignore_errors=True)  # a run cut short is trained again from the start
            spec = run_spec(
                kind, sections_of(kind, {"data": data, "steps": n, "image_every": max(1, n // 10)})
            )
            t0 = time.time()
            train(spec, out, progress=False)
            print(f"trained {kind} for {n} steps in {time.time() - t0:.0f} s", flush=True)
        runs[kind] = out
    return runs


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def measure(page, moves: int) -> list[float]:
    """Slider moves on the current run, each awaited: attribute sliders and latent dimensions in turn."""
    page.wait_for_selector("#dim-sliders input")
    page.wait_for_function("document.querySelector('#slider-image').naturalWidth > 0")
    attrs = page.locator("#attr-sliders input[type=range]")
    dims = page.locator("#dim-sliders input[type=range]")
    start = page.evaluate("window.genzooLatencies.length")
    for i in range(moves):
        n = page.evaluate("window.genzooLatencies.length")
        use_attr = attrs.count() and i % 2 == 0
        slider = attrs.nth((i // 2) % attrs.count()) if use_attr else dims.nth((i // 2) % dims.count())
        lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
        frac = [0.2, 0.8, 0.35, 0.65][i % 4]
        slider.fill(f"{lo + frac * (hi - lo):.3f}")
        page.wait_for_function("(n) => window.genzooLatencies.length > n", arg=n, timeout=30_000)
    return page.evaluate("window.genzooLatencies").__getitem__(slice(start, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--ddpm-steps", type=int, default=1500)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-explore")
    ap.add_argument(
        "--reuse", action="store_true", help="keep runs already under --work, whatever their steps"
    )
    ap.add_argument("--shots", type=Path, default=None, help="write a screenshot of each panel here")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads of the server (genzoo explore's default)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "explore.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from genzoo.run import Run

    runs = train_runs(args.work, args.data, args.steps, args.ddpm_steps, args.reuse)
    import torch

    torch.set_num_threads(args.threads)
    record_steps = {k: Run(p).latest for k, p in runs.items()}
    results = {}
    with serving([runs[k] for k in (*DECODERS, "ddpm")]) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        page.evaluate("window.genzooReady")
        for kind in DECODERS:
            page.select_option("#run", label=f"{runs[kind].name} ({kind})")
            page.wait_for_function(
                "(k) => document.querySelector('#info').textContent.startsWith(k)", arg=kind
            )
            measure(page, 5)  # warm-up: first calls of a model
            lat = measure(page, args.moves)
            results[kind] = {
                "moves": len(lat),
                "p50_ms": round(statistics.median(lat), 1),
                "p95_ms": round(percentile(lat, 0.95), 1),
                "max_ms": round(max(lat), 1),
            }
            print(f"{kind}: {results[kind]}", flush=True)
        if args.shots:
            shoot(page, runs, args.shots)
        browser.close()
    record = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "data": args.data,
        "server_threads": args.threads,
        "steps": record_steps,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


def shoot(page, runs: dict[str, Path], out: Path) -> None:
    """One screenshot per panel: the VAE's sampler, sliders (a lock on), encoder and inpainting;
    the DDPM's stream; the DCGAN's training history."""
    out.mkdir(parents=True, exist_ok=True)
    page.select_option("#run", label=f"{runs['vae'].name} (vae)")
    page.wait_for_function("document.querySelector('#info').textContent.startsWith('vae')")
    page.wait_for_selector("#attr-sliders input")
    page.wait_for_selector("#examples img")
    page.wait_for_timeout(1500)
    page.select_option("#compare", label=f"{runs['ae'].name} (ae)")
    page.wait_for_timeout(1500)
    page.locator("#panel-sampler").screenshot(path=str(out / "explorer-samples.png"))
    lock = page.locator("input[data-lock]").first
    lock.check()
    page.click("#sliders-random")
    page.wait_for_timeout(800)
    page.locator("#panel-sliders").screenshot(path=str(out / "explorer-sliders.png"))
    page.locator("#panel-encoder").screenshot(path=str(out / "explorer-encoder.png"))
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 120, steps=12)
    page.mouse.up()
    page.click("#inpaint-go")
    page.wait_for_timeout(2500)
    page.locator("#panel-inpaint").screenshot(path=str(out / "explorer-inpaint.png"))
    page.select_option("#run", label=f"{runs['ddpm'].name} (ddpm)")
    page.wait_for_selector("#panel-diffusion", state="visible")
    page.select_option("#diff-sampler", "ddim")
    page.fill("#diff-steps", "50")
    page.click("#diff-start")
    page.wait_for_function(
        "/step (1[5-9]|[2-4][0-9])/.test(document.querySelector('#diff-status').textContent)", timeout=120_000
    )
    page.locator("#panel-diffusion").screenshot(path=str(out / "explorer-diffusion.png"))
    page.wait_for_function(
        "document.querySelector('#diff-status').textContent.startsWith('done')", timeout=120_000
    )
    page.select_option("#run", label=f"{runs['dcgan'].name} (dcgan)")
    page.wait_for_timeout(2000)
    page.locator("#panel-training").screenshot(path=str(out / "explorer-training.png"))
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
