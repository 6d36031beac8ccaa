"""The explorer's web app (Starlette): one page and a JSON API over the loaded runs.

JSON in, JSON out, pictures as PNG data URLs. Runs are named by the id they were loaded under (the
client never sends a path); every number is bounded (``genzoo.explore.params``); a request body
is at most ``MAX_BODY`` bytes. Answers: 400 a bad request (one line naming the problem), 404 an
unknown run, 413 a body too large, 429 a model whose queue is full; a 500 would be a bug.

Diffusion's reverse process streams as server-sent events (``/api/stream``): one event per
network evaluation (every ``every`` steps), stopped as soon as the page closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from genzoo import latent, sampling
from genzoo.errors import GenzooError
from genzoo.explore import directions, render
from genzoo.explore import params as p
from genzoo.explore.session import Busy, ExploredRun
from genzoo.models.capabilities import Capability

MAX_BODY = 2 * 1024 * 1024  # bytes of a request (an upload is part of its JSON)
MAX_UPLOAD = 1024 * 1024  # bytes of an uploaded image
MAX_SAMPLES = 64
MAX_STEPS = 1000
MAX_EVALS = 4000  # samples x sampler steps in one request
STATIC = resources.files("genzoo.explore") / "static"


class TooLarge(GenzooError):
    pass


class Explorer:
    """The runs being explored, by id, and the handlers that answer for them."""

    def __init__(self, runs: Sequence[ExploredRun]) -> None:
        self.runs = {r.id: r for r in runs}

    def get(self, body: dict[str, Any]) -> ExploredRun:
        rid = body.get("run")
        if not isinstance(rid, str) or rid not in self.runs:
            raise LookupError(f"unknown run {str(rid)[:40]!r}; loaded: {', '.join(self.runs)}")
        return self.runs[rid]

    async def call(self, er: ExploredRun, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(er.submit(fn, *args))


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (query parameters for a GET), at most MAX_BODY bytes."""
    if request.method == "GET":
        return dict(request.query_params)
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise TooLarge(f"the request is larger than {MAX_BODY // 1024} KiB")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise TooLarge(f"the request is larger than {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise p.BadRequest("the request body is not JSON (or nested too deeply)") from None
    if not isinstance(body, dict):
        raise p.BadRequest("the request body must be a JSON object")
    return body


def endpoint(handler: Callable[[Explorer, dict[str, Any]], Awaitable[Any]]) -> Callable:
    """A JSON endpoint: errors become one-line JSON answers with their status."""

    async def answer(request: Request) -> Response:
        ex: Explorer = request.app.state.explorer
        try:
            body = await read_body(request)
            out = await handler(ex, body)
        except TooLarge as e:
            return JSONResponse({"error": str(e)}, status_code=413)
        except LookupError as e:
            return JSONResponse({"error": str(e).strip("'\"")}, status_code=404)
        except Busy as e:
            return JSONResponse({"error": str(e)}, status_code=429)
        except GenzooError as e:  # BadRequest, BadImage, a missing capability, a bad option
            return JSONResponse({"error": str(e)}, status_code=400)
        return out if isinstance(out, Response) else JSONResponse(out)

    return answer


# ------------------------------------------------------------------------------------ inputs
def class_arg(er: ExploredRun, body: dict[str, Any]) -> int | None:
    """The class a request names (``class``: a name or index; ``prompt``: text), None if neither."""
    name = body.get("class")
    prompt = p.text(body, "prompt", 200, default="")
    if name is not None and not isinstance(name, str | int):
        raise p.BadRequest("class must be a class name or index")
    if (name in (None, "") and not prompt) or not er.has(Capability.CONDITIONAL):
        if name not in (None, "") or prompt:
            er.require(Capability.CONDITIONAL, "a class or prompt")
        return None
    return er.class_of(None if name is None else str(name)[:60], prompt)


def sampler_options(er: ExploredRun, body: dict[str, Any]) -> dict[str, Any]:
    """Sampling options the model takes, checked: sampler, steps, guidance, eta (ddim, dpm++sde), spacing
    (any sampler but ddpm), churn (edm), temperature; an option the chosen sampler lacks is ignored."""
    takes = er.model.sample_options
    out: dict[str, Any] = {}
    if "sampler" in takes and body.get("sampler") not in (None, ""):
        out["sampler"] = p.choice(body, "sampler", er.model.samplers)
    if "steps" in takes and body.get("steps") not in (None, ""):
        out["steps"] = p.integer(body, "steps", 1, MAX_STEPS)
    if "guidance" in takes and body.get("guidance") not in (None, "") and er.has(Capability.CONDITIONAL):
        out["guidance"] = p.number(body, "guidance", 0.0, 20.0)
    chosen = out.get("sampler")
    if "eta" in takes and body.get("eta") not in (None, "") and chosen in sampling.ETA_SAMPLERS:
        out["eta"] = p.number(body, "eta", 0.0, 1.0)
    if "spacing" in takes and body.get("spacing") not in (None, "") and chosen not in (None, "ddpm"):
        out["spacing"] = p.choice(body, "spacing", sampling.SPACINGS)
    if "churn" in takes and body.get("churn") not in (None, "") and chosen == "edm":
        out["churn"] = p.number(body, "churn", 0.0, 100.0)
    if "temperature" in takes and body.get("temperature") not in (None, ""):
        out["temperature"] = p.number(body, "temperature", 0.0, 5.0)
    if out.get("sampler") == "ddpm":
        out.pop("steps", None)
    return out


def example_arg(er: ExploredRun, body: dict[str, Any], key: str = "image") -> tuple[torch.Tensor, int | None]:
    """The example a request names: ``index`` of a test example, or ``image`` (an upload)."""
    if body.get(key) not in (None, ""):
        return render.decode_upload(body[key], er.shape, MAX_UPLOAD), None
    n = 0 if er.test_x is None else len(er.test_x) - 1
    return er.example(p.integer(body, "index", 0, max(n, 0)))


def network_evals(er: ExploredRun, opts: dict[str, Any]) -> int:
    """Network evaluations per sample of a sample request: the sampler and steps asked, else the
    model's own defaults (a diffusion config's sampler and sample_steps; ddpm: all T); 1 for a
    model that samples in one pass."""
    if "sampler" not in er.model.sample_options:
        return 1
    c = er.model.config
    chosen = opts.get("sampler") or c.sampler
    if chosen == "ddpm":
        return c.timesteps
    return sampling.network_evals(chosen, opts.get("steps") or c.sample_steps)


# ------------------------------------------------------------------------------------ handlers
async def list_runs(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    return {"runs": [r.info() for r in ex.runs.values()]}


async def sample(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    seed = p.integer(body, "seed", 0, p.MAX_SEED)
    n = p.integer(body, "n", 1, MAX_SAMPLES, default=16)
    y = class_arg(er, body)
    opts = sampler_options(er, body)
    evals = n * network_evals(er, opts)
    if evals > MAX_EVALS:  # one request may not hold a model for minutes
        raise p.BadRequest(
            f"{n} samples x {evals // n} network evaluations is too much for one request; ask for fewer"
        )
    x = await ex.call(er, er.sample, list(range(seed, seed + n)), y, opts)
    return {"images": render.urls(x), "seed": seed, "class": y}


async def examples(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    if er.test_x is None:
        return {"images": [], "labels": [], "note": er.data_note}
    labels = [] if er.test_y is None else er.test_y.tolist()
    return {"images": render.urls(er.test_x), "labels": labels}


def _picture(er: ExploredRun, z: torch.Tensor, y: int | None) -> str:
    return render.urls(er.decode(z[None], y))[0]


def _sliders_state(er: ExploredRun, z: torch.Tensor, y: int | None) -> dict[str, Any]:
    return {"code": z.tolist(), "image": _picture(er, z, y), "values": er.slider_values(z)}


async def encode(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    er.require(Capability.ENCODER, "encoding an image")
    x, y = example_arg(er, body)

    def work() -> dict[str, Any]:
        z, recon, used = er.encode(x, y)
        return {
            "code": z.tolist(),
            "input": render.urls(x)[0],
            "image": render.urls(recon)[0],
            "class": used,
            "values": er.slider_values(z),
        }

    return await ex.call(er, work)


async def decode(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    z = p.code(body, "code", er.latent_dim())
    y = class_arg(er, body)
    values = p.choice(body, "values", ("yes", "no"), default="no") == "yes"

    def work() -> dict[str, Any]:
        out = {"image": _picture(er, z, y)}
        if values:
            out["values"] = er.slider_values(z)
        return out

    return await ex.call(er, work)


async def sliders(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    d = er.latent_dim()

    def work() -> dict[str, Any]:
        s = er.sliders()
        return {
            "sliders": [
                {"name": n, "low": lo, "high": hi, "group": g}
                for n, lo, hi, g in zip(s.names, s.low, s.high, s.group, strict=True)
            ],
            "dimensions": [
                {"dim": i, "lo": lo, "hi": hi} for i, (lo, hi) in enumerate(er.dimension_ranges())
            ],
            "latent_dim": d,
        }

    return await ex.call(er, work)


async def slide(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    """Slider ``name`` to ``value`` with the ``locked`` sliders kept (``directions.move``)."""
    er = ex.get(body)
    z = p.code(body, "code", er.latent_dim())
    y = class_arg(er, body)

    def work() -> dict[str, Any]:
        s = er.sliders()
        name = p.choice(body, "name", s.names)
        value = p.number(body, "value", -100.0, 100.0)
        locked = p.names(body, "locked", s.names)
        return _sliders_state(er, directions.move(s, z, name, value, locked), y)

    return await ex.call(er, work)


async def redraw(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    """A new code from ``seed`` with every ``locked`` slider put back at its value."""
    er = ex.get(body)
    seed = p.integer(body, "seed", 0, p.MAX_SEED)
    y = class_arg(er, body)
    er.latent_dim()

    def work() -> dict[str, Any]:
        s = er.sliders()
        locked = p.values(body, "locked", s.names)
        z = directions.restore(s, er.draw_code(seed), locked)
        return _sliders_state(er, z, y) | {"seed": seed}

    return await ex.call(er, work)


async def interpolate(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    d = er.latent_dim()
    a, b = p.code(body, "a", d), p.code(body, "b", d)
    t = p.number(body, "t", 0.0, 1.0)
    mode = p.choice(body, "mode", ("lerp", "slerp"), default="lerp")
    y = class_arg(er, body)
    tt = torch.tensor([t])
    z = (latent.slerp if mode == "slerp" else latent.lerp)(a[None], b[None], tt)[0]
    return await ex.call(er, lambda: {"image": _picture(er, z, y)})


async def likelihood(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    er.require(Capability.LIKELIHOOD, "a likelihood")
    x, y = example_arg(er, body)
    return await ex.call(er, er.bits_per_dim, x, y) | {"kind": er.model.likelihood_kind}


async def inpaint(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)
    if len(er.shape) != 3:
        raise p.BadRequest("inpainting needs a model of images")
    x, y = example_arg(er, body)
    known = render.decode_mask(p.text(body, "mask", MAX_UPLOAD * 2), tuple(er.shape[1:]), MAX_UPLOAD)
    seed = p.integer(body, "seed", 0, p.MAX_SEED, default=0)
    opts = sampler_options(er, body) if er.has(Capability.INPAINTER) else {}
    for key in ("sampler", "eta", "spacing", "churn"):  # RePaint has its own grid and noise
        opts.pop(key, None)
    if er.has(Capability.CONDITIONAL) and er.has(Capability.INPAINTER):
        cls = class_arg(er, body)
        if cls is not None:
            opts["y"] = torch.tensor([cls])

    def work() -> dict[str, Any]:
        filled = er.inpaint(x, known, seed, opts)
        return {"image": render.urls(filled)[0], "masked": render.urls(x * known)[0]}

    return await ex.call(er, work)


async def training(ex: Explorer, body: dict[str, Any]) -> dict[str, Any]:
    er = ex.get(body)

    def work() -> dict[str, Any]:
        frames = er.progress_frames()
        steps = sorted(frames)
        if len(steps) > 40:  # at most 40 pictures, the last always
            keep = torch.linspace(0, len(steps) - 1, 40).round().long().unique().tolist()
            steps = [steps[i] for i in keep]
        pictures = [{"step": s, "image": _file_url(frames[s])} for s in steps]
        records = er.metrics()
        keys = sorted({k for r in records for k, v in r.items() if k.startswith("loss") and _finite(v)})
        curves = {k: [[r["step"], r[k]] for r in records if _finite(r.get(k)) and "step" in r] for k in keys}
        return {"frames": pictures, "curves": {k: v[-2000:] for k, v in curves.items()}}

    return await ex.call(er, work)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < float("inf")


def _file_url(path: Path) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# ------------------------------------------------------------------------------------ the stream
class _Stopped(Exception):
    pass


async def stream(request: Request) -> Response:
    """Server-sent events of one diffusion sample: {"step", "t", "image"} per network evaluation
    (x0_hat, the current guess of the sample, or x_t with ``show=x_t``), then {"done": true}."""
    ex: Explorer = request.app.state.explorer
    try:
        body = dict(request.query_params)
        er = ex.get(body)
        er.require(Capability.ITERATIVE, "a streamed trajectory")
        seed = p.integer(body, "seed", 0, p.MAX_SEED)
        every = p.integer(body, "every", 1, MAX_STEPS, default=1)
        show = p.choice(body, "show", ("x0", "x_t"), default="x_t")
        y = class_arg(er, body)
        opts = sampler_options(er, body)
    except LookupError as e:
        return JSONResponse({"error": str(e).strip("'\"")}, status_code=404)
    except GenzooError as e:
        return JSONResponse({"error": str(e)}, status_code=400)

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    stop = threading.Event()
    count = [0]

    def put(item: dict[str, Any] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def on_step(t: int, x_t: torch.Tensor, x0: torch.Tensor) -> None:
        if stop.is_set():
            raise _Stopped
        count[0] += 1
        if count[0] % every == 0:
            put({"step": count[0], "t": int(t), "image": render.urls(x0 if show == "x0" else x_t)[0]})

    def work() -> None:
        try:
            x = er.sample([seed], y, opts | {"callback": on_step})
            put({"done": True, "step": count[0], "image": render.urls(x)[0]})
        except _Stopped:
            put({"stopped": True, "step": count[0]})
        except GenzooError as e:
            put({"error": str(e)})
        finally:
            put(None)

    try:
        er.submit(work)
    except Busy as e:
        return JSONResponse({"error": str(e)}, status_code=429)

    async def events():
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield f"data: {json.dumps(item)}\n\n"
        finally:
            stop.set()  # the page closed the stream: the sampler stops at its next step

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------------ the app
async def page(request: Request) -> Response:
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


def create_app(runs: Sequence[str | Path | ExploredRun], *, max_queue: int = 8) -> Starlette:
    """The explorer as an ASGI app over ``runs`` (run or saved-model directories, or runs already
    loaded), each loaded once; serve it with uvicorn or mount it in another app."""
    loaded = []
    for i, r in enumerate(runs):
        loaded.append(r if isinstance(r, ExploredRun) else ExploredRun(f"r{i}", r, max_queue=max_queue))
    if not loaded:
        raise GenzooError("no runs to explore")
    api = {
        "runs": (list_runs, ["GET"]),
        "sample": (sample, ["POST"]),
        "examples": (examples, ["GET", "POST"]),
        "encode": (encode, ["POST"]),
        "decode": (decode, ["POST"]),
        "sliders": (sliders, ["GET", "POST"]),
        "slide": (slide, ["POST"]),
        "redraw": (redraw, ["POST"]),
        "interpolate": (interpolate, ["POST"]),
        "likelihood": (likelihood, ["POST"]),
        "inpaint": (inpaint, ["POST"]),
        "training": (training, ["GET", "POST"]),
    }
    routes = [Route("/", page), Route("/api/stream", stream)]
    routes += [Route(f"/api/{name}", endpoint(fn), methods=methods) for name, (fn, methods) in api.items()]
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC)), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for r in loaded:
            r.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.explorer = Explorer(loaded)
    return app
