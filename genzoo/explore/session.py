"""One run as the explorer holds it: the model loaded once (latest checkpoint, EMA weights, eval
mode), a few test examples, its sliders, and a one-thread queue so the model answers one request
at a time (``submit``; ``Busy`` when more than ``max_queue`` wait).

Every method here takes and returns tensors and plain values: the HTTP layer (``genzoo.explore.app``)
checks and converts, this module asks the model by its declared capabilities only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

from genzoo import conditional, latent
from genzoo.errors import GenzooError
from genzoo.explore import directions
from genzoo.explore.directions import Sliders
from genzoo.models import capabilities as caps
from genzoo.models.capabilities import Capability
from genzoo.run import Run

T = TypeVar("T")
TEST_EXAMPLES = 32  # test examples offered on the page
SLIDER_CODES = 1000  # codes the sliders are fitted on (test images, or sampled latents of a GAN)
PCS = 6  # principal directions offered
TRAVERSE_DIMS = 16  # latent dimensions with a slider of their own


class Busy(GenzooError):
    """The model's queue is full: the request should be sent again later (HTTP 429)."""


class ExploredRun:
    """A run loaded for exploring. ``id`` is what the page names it by; the client never sends a
    path."""

    def __init__(self, run_id: str, path: str | Path, *, max_queue: int = 8) -> None:
        self.id = run_id
        self.run = Run(path)
        self.name = self.run.path.name if self.run.path.name != "final" else self.run.path.parent.name
        self.model = self.run.model("latest")
        self.model.eval()
        self.shape = tuple(self.model.shape)
        self.caps = caps.capabilities(self.model)
        self.max_queue = max_queue
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"explore-{run_id}")
        self._pending = 0
        self._count = threading.Lock()
        self._sliders: Sliders | None = None
        self._fit_codes: torch.Tensor | None = None
        self.data_note: str | None = None
        self.test_x = self.test_y = self._fit_x = self._fit_y = None
        try:
            part = self.run.data("test")
        except GenzooError as e:  # data moved or not downloaded: uploads still work
            self.data_note = f"no test examples ({e})"
        else:
            n = min(TEST_EXAMPLES, len(part))
            pick = torch.linspace(0, len(part) - 1, n).long()  # spread over the split, the same every time
            self.test_x, self.test_y = part.x[pick], None if part.y is None else part.y[pick]
            self._fit_x, self._fit_y = (
                part.x[:SLIDER_CODES],
                None if part.y is None else part.y[:SLIDER_CODES],
            )

    # -- the queue ----------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on this model's one worker thread; Busy if ``max_queue`` already wait."""
        with self._count:
            if self._pending >= self.max_queue:
                raise Busy(f"{self.name} is busy ({self._pending} requests waiting); try again")
            self._pending += 1
        fut = self._pool.submit(torch.no_grad()(fn), *args)
        fut.add_done_callback(lambda _: self._release())
        return fut

    def _release(self) -> None:
        with self._count:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- what the page needs to know ------------------------------------------------------------------
    def has(self, cap: Capability) -> bool:
        return cap in self.caps

    def info(self) -> dict[str, Any]:
        out = caps.describe(self.model) | {
            "id": self.id,
            "name": self.name,
            "shape": list(self.shape),
            "kind": {3: "image", 2: "series", 1: "points"}.get(len(self.shape), "other"),
            "step": self.run.latest,
            "test_examples": 0 if self.test_x is None else len(self.test_x),
            "data_note": self.data_note,
        }
        if self.has(Capability.LIKELIHOOD):
            out["likelihood_kind"] = self.model.likelihood_kind
        return out

    def require(self, cap: Capability, what: str) -> None:
        caps.require(self.model, cap, what)

    # -- sampling -----------------------------------------------------------------------------------
    def sample(self, seeds: Sequence[int], y: int | None, options: dict[str, Any]) -> torch.Tensor:
        labels = None if y is None else torch.full((len(seeds),), y, dtype=torch.long)
        return self.model.sample(len(seeds), seeds=list(seeds), y=labels, **options)

    def class_of(self, name: str | None = None, prompt: str | None = None) -> int | None:
        """The class index a class name/index or a prompt names (None: none given)."""
        if prompt:
            return conditional.class_from_prompt(self.model, prompt)
        if name not in (None, ""):
            return conditional.class_indices(self.model, str(name))[0]
        return None

    # -- codes -------------------------------------------------------------------------------------
    def latent_dim(self) -> int:
        self.require(Capability.DECODER, "a latent slider")
        return int(self.model.latent_dim)

    def labels_for(self, n: int, y: int | None) -> torch.Tensor | None:
        """Labels for decoding: the class given, class 0 for a conditional model without one."""
        if not conditional.is_conditional(self.model):
            return None
        return torch.full((n,), 0 if y is None else y, dtype=torch.long)

    def decode(self, z: torch.Tensor, y: int | None) -> torch.Tensor:
        """Images of codes z (n, d)."""
        self.require(Capability.DECODER, "decoding a code")
        return self.model.decode(z, self.labels_for(len(z), y))

    def draw_code(self, seed: int) -> torch.Tensor:
        """The prior code (d,) of ``seed``."""
        self.require(Capability.DECODER, "drawing a code")
        return self.model.sample_latent(1, seeds=[seed])[0]

    def example(self, index: int) -> tuple[torch.Tensor, int | None]:
        """Test example ``index`` (1, *shape) and its label."""
        if self.test_x is None:
            raise GenzooError(self.data_note or "this run has no test examples")
        if not 0 <= index < len(self.test_x):
            raise GenzooError(f"example index {index} is out of range 0..{len(self.test_x) - 1}")
        y = None if self.test_y is None else int(self.test_y[index])
        return self.test_x[index : index + 1], y

    def encode(self, x: torch.Tensor, y: int | None) -> tuple[torch.Tensor, torch.Tensor, int | None]:
        """(code (d,), reconstruction (1, *shape), the label used) of one example x (1, *shape)."""
        self.require(Capability.ENCODER, "encoding an image")
        yy = None
        if conditional.is_conditional(self.model):
            yy = self.model.infer_labels(x) if y is None else torch.tensor([y])
        z = self.model.encode(x, yy)
        return z[0], self.model.decode(z, yy), None if yy is None else int(yy[0])

    def dimension_ranges(self) -> list[tuple[float, float]]:
        """A slider range (lo, hi) per latent dimension (the first TRAVERSE_DIMS): the codes' mean
        +- 3 std, over test codes (an encoder; an autoencoder's codes have no fixed scale) or prior
        codes."""
        z = self._codes()
        mu, sd = z.mean(0), z.std(0).clamp_min(1e-3)
        return [(float(m - 3 * s), float(m + 3 * s)) for m, s in zip(mu, sd, strict=True)][:TRAVERSE_DIMS]

    def _codes(self) -> torch.Tensor:
        """Codes (N, d) to fit sliders on: test codes of an encoder, else prior codes; computed once."""
        if self._fit_codes is None:
            if self.has(Capability.ENCODER) and self._fit_x is not None:
                yy = self._fit_y if conditional.is_conditional(self.model) else None
                self._fit_codes = latent.latent_codes(self.model, self._fit_x, yy)
            else:
                self._fit_codes = self.model.sample_latent(500, seeds=range(500))
        return self._fit_codes

    # -- sliders ------------------------------------------------------------------------------------
    def sliders(self) -> Sliders:
        """The run's attribute sliders (its attributes file, else pixel statistics and class
        labels) followed by principal directions; computed once."""
        if self._sliders is None:
            self._sliders = self._attribute_sliders() + self._principal_sliders()
        return self._sliders

    def _attribute_sliders(self) -> Sliders:
        from genzoo.apps.attribute_file import FILE_NAME, load_attributes
        from genzoo.apps.attribute_sources import run_attributes

        self.require(Capability.DECODER, "attribute sliders")
        file = self.run.path / FILE_NAME
        attrs = None
        if file.is_file():
            try:
                attrs = load_attributes(file, self.model)
            except GenzooError:
                attrs = None  # another model's file: computed afresh below, the file left as it is
        if attrs is None and len(self.shape) == 3:
            try:
                attrs = run_attributes(self.run, "pixels", split="test", n=SLIDER_CODES, model=self.model)
            except GenzooError:
                attrs = None
        if attrs is None:
            none = torch.zeros(0, self.latent_dim())
            return directions.from_centroids([], none, none, [], [])
        names, hi, lo, low, high = [], [], [], [], []
        for a, (h, low_name) in attrs.pairs.items():
            names.append(a)
            hi.append(attrs.centroid(h))
            lo.append(attrs.centroid(low_name))
            low.append(low_name)
            high.append(h)
        for c in attrs.classes:
            v = attrs.vector(c)
            names.append(f"class {c}")
            hi.append(attrs.centroid(c))
            lo.append(attrs.centroid(c) - v)
            low.append(f"not {c}")
            high.append(c)
        return directions.from_centroids(names, torch.stack(hi), torch.stack(lo), low, high)

    def _principal_sliders(self) -> Sliders:
        if self.has(Capability.ENCODER) and self._fit_x is not None:
            return directions.principal_codes(self._codes(), PCS)
        n = 500
        z = self.model.sample_latent(n, seeds=range(n))
        x = latent.decode(self.model, z, self.labels_for(n, None))
        return directions.principal_images(z, x, PCS)

    def slider_values(self, z: torch.Tensor) -> list[float]:
        return self.sliders().values(z).tolist()

    # -- likelihood and inpainting ------------------------------------------------------------------
    def bits_per_dim(self, x: torch.Tensor, y: int | None) -> dict[str, float]:
        from genzoo.eval.likelihood import bits_per_dim, per_example_nll

        self.require(Capability.LIKELIHOOD, "a likelihood")
        yy = None if y is None or not conditional.is_conditional(self.model) else torch.tensor([y])
        k = self.model.likelihood_k
        nll, _ = per_example_nll(
            self.model,
            x,
            k=None if k is None else min(k, 100),
            y=yy,
            generator=torch.Generator().manual_seed(0),
        )
        dims = int(torch.tensor(self.shape).prod())
        return {
            "nats": float(nll[0]),
            "bits_per_dim": float(bits_per_dim(nll, dims, self.model.likelihood_bins)[0]),
        }

    def inpaint(
        self, x: torch.Tensor, known: torch.Tensor, seed: int, options: dict[str, Any]
    ) -> torch.Tensor:
        from genzoo.apps.inpaint import inpaint

        if self.has(Capability.INPAINTER):
            return inpaint(self.model, x, known, seeds=[seed], **options)
        return inpaint(self.model, x, known)

    # -- training -----------------------------------------------------------------------------------
    def progress_frames(self) -> dict[int, Path]:
        return self.run.progress_images()

    def metrics(self) -> list[dict[str, Any]]:
        return self.run.metrics()
