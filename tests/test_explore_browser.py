"""The explorer as a person uses it, in a real browser: Playwright driving Debian's chromium against a
server on 127.0.0.1. Press random, move a slider, lock an attribute, and check from the pixels that
the picture changed and from the page that the locked attribute's value stayed.

CI installs chromium (.ci/run) and sets GENZOO_REQUIRE_BROWSER=1, so a missing browser fails there
instead of skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genzoo.train import train
from tests.conftest import tiny_spec
from tests.explore_server import CHROMIUM, CHROMIUM_ARGS, serving

pytestmark = pytest.mark.slow


def _browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install 'genzoo[explore]')"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if missing:
        if os.environ.get("GENZOO_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("uvicorn")
    root = tmp_path_factory.mktemp("browser")
    return {
        kind: train(tiny_spec(kind, steps=steps, threads=1), root / kind, progress=False)
        for kind, steps in (("vae", 30), ("dcgan", 10), ("ddpm", 10), ("cddpm", 5))
    }


def _pixels(page, selector: str) -> list[int]:
    return page.evaluate(
        """(sel) => { const im = document.querySelector(sel), c = document.createElement('canvas');
        c.width = im.naturalWidth; c.height = im.naturalHeight; const ctx = c.getContext('2d');
        ctx.drawImage(im, 0, 0); return Array.from(ctx.getImageData(0, 0, c.width, c.height).data); }""",
        selector,
    )


def _value(page, name: str) -> str:
    return page.locator(f'#attr-sliders input[data-name="{name}"] + output').inner_text()


def _wait_moves(page, before: int) -> None:
    page.wait_for_function("(n) => window.genzooLatencies.length > n", arg=before, timeout=30_000)


def _moves(page) -> int:
    return page.evaluate("window.genzooLatencies.length")


def test_random_slider_and_lock_in_a_real_browser(runs):
    sync_playwright = _browser_or_skip()
    with serving([runs["vae"], runs["dcgan"], runs["ddpm"], runs["cddpm"]]) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            assert page.evaluate("window.genzooReady") is True
            page.wait_for_selector('#attr-sliders input[data-name="thickness"]')
            page.wait_for_function("document.querySelector('#slider-image').naturalWidth > 0")
            assert page.locator("#panel-encoder").is_visible()  # the vae encodes
            assert page.locator("#panel-diffusion").is_hidden()

            # samples: "random" draws a new seed and new pictures
            page.wait_for_selector("#sample-grid img")
            first = _pixels(page, "#sample-grid img")
            seed = page.input_value("#sample-seed")
            page.click("#sample-random")
            page.wait_for_function("(s) => document.querySelector('#sample-seed').value !== s", arg=seed)
            page.wait_for_function(
                "(old) => { const im = document.querySelector('#sample-grid img'); return im && im.complete; }",
                arg=first,
            )
            page.wait_for_timeout(200)
            assert _pixels(page, "#sample-grid img") != first

            # an attribute slider changes the picture and reads its new value
            before, n = _pixels(page, "#slider-image"), _moves(page)
            page.locator('#attr-sliders input[data-name="thickness"]').fill("1.8")
            _wait_moves(page, n)
            page.wait_for_function("() => !document.querySelector('#error').textContent")
            assert _pixels(page, "#slider-image") != before
            assert float(_value(page, "thickness")) == pytest.approx(1.8, abs=0.011)

            # lock thickness: moving another slider and pressing random keep its value
            page.locator('input[data-lock="thickness"]').check()
            locked = _value(page, "thickness")
            before, n = _pixels(page, "#slider-image"), _moves(page)
            page.locator('#attr-sliders input[data-name="slant"]').fill("1.2")
            _wait_moves(page, n)
            assert _value(page, "thickness") == locked
            assert _pixels(page, "#slider-image") != before
            before, n = _pixels(page, "#slider-image"), _moves(page)
            page.click("#sliders-random")
            _wait_moves(page, n)
            assert _value(page, "thickness") == locked
            assert _pixels(page, "#slider-image") != before
            assert page.locator('#attr-sliders input[data-name="thickness"]').is_disabled()

            # a GAN has sliders and samples but no encoder panel
            page.select_option("#run", label=f"{runs['dcgan'].name} (dcgan)")
            page.wait_for_function("document.querySelector('#panel-encoder').hidden")
            assert page.locator("#panel-sliders").is_visible()

            # diffusion streams its reverse process to the page
            page.select_option("#run", label=f"{runs['ddpm'].name} (ddpm)")
            page.wait_for_selector("#panel-diffusion", state="visible")
            page.select_option("#diff-sampler", "ddim")
            page.fill("#diff-steps", "4")
            page.click("#diff-start")
            page.wait_for_function("document.querySelector('#diff-status').textContent.startsWith('done')")
            assert "4 network evaluations" in page.inner_text("#diff-status")
            # a model without an encoder still takes a test image: its likelihood in bits/dim
            page.click('#examples img[data-index="3"]')
            page.click("#likelihood-go")
            page.wait_for_function(
                "document.querySelector('#likelihood-value').textContent.includes('bits/dim')"
            )
            # a cddpm's guidance slider starts at the model's own w (the config's default, 1.5)
            page.select_option("#run", label=f"{runs['cddpm'].name} (cddpm)")
            page.wait_for_function("document.querySelector('#sample-guidance-value').textContent === '1.5'")
            assert page.input_value("#sample-guidance") == "1.5"
            assert not page.locator("#error").is_visible(), page.inner_text("#error")
            assert errors == []
        finally:
            browser.close()
