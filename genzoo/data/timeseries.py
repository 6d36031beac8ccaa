"""Time series: a synthetic default, UCR sets and anomaly sets from aeon's wheel, and a user's CSV.

One example is a series of T steps and D channels, stored as x (T, D + 1) float32: the D value
channels, then a **mask channel** m (1 on an observed step, 0 on padding). Padding is trailing:
a series of length L < T has m = 1 on steps 0..L-1 and m = 0 (values 0) on steps L..T-1, so one
tensor holds a batch of series of different lengths and a model reads the lengths as m.sum(1).
Fixed-length sets have m = 1 everywhere.

Sources (``DataConfig.name``):

- ``sines``: embedded, needs nothing; noisy sine, square and sawtooth waves of random period,
  phase and amplitude (3 classes), 1 channel, ``window`` steps (default 64); train 2,000 / test 500.
- ``sines-varlen``: the same shapes in 2 channels (the wave and a quarter-period-shifted copy) of
  random length in [window / 2, window], padded: the variable-length, multivariate case.
- ``gunpoint``, ``italy-power``: UCR classification sets (150 and 24 steps, 2 classes), read from
  the files bundled in the ``aeon`` wheel (``pip install 'genzoo[timeseries]'``), as split there.
- ``kdd-tsad-135``, ``ecg-anomaly``: anomaly sets bundled in aeon (KDD-TSAD 135 "InternalBleeding16";
  aeon's ecg-diff-count-3 test series), one long series each with per-step anomaly labels. Cut
  into windows of ``window`` steps every ``stride`` steps: the train split holds the windows of the
  normal training series (y = 0), the test split those of the test series with y = 1 when a
  window overlaps a labelled anomalous region (class names "normal", "anomaly").
- ``csv``: a user's own series (``path``): one row per time step, one numeric column per channel,
  an optional header row; a header column ``is_anomaly`` (0/1) labels steps and columns named
  ``timestamp``/``time``/``date`` are dropped. Windows as above; the first 70% of the steps give
  the train windows (those without a labelled anomaly), the last 30% the test windows.

Windowed sets are standardised per channel by the mean and std of their training part. aeon's
loaders are not imported (they pull numba and pandas): genzoo finds the installed package's data
directory and parses the two plain formats (.ts and the TimeEval CSV) itself.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from genzoo.data.sources import Source, register
from genzoo.data.types import DatasetInfo, TensorData
from genzoo.errors import DataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SEEDS = {"train": 0, "test": 1}
SINE_COUNTS = {"train": 2000, "test": 500}
SINE_CLASSES = ("sine", "square", "sawtooth")
DEFAULT_WINDOW = {"sines": 64, "sines-varlen": 64, "kdd-tsad-135": 64, "ecg-anomaly": 64, "csv": 64}
UCR = {"gunpoint": ("GunPoint", 150), "italy-power": ("ItalyPowerDemand", 24)}
# name -> (aeon data folder, normal training series, test series with labels)
ANOMALY = {
    "kdd-tsad-135": (
        "KDD-TSAD_135",
        "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv",
        "135_UCR_Anomaly_InternalBleeding16_TEST.csv",
    ),
    "ecg-anomaly": ("UnitTest", "ecg-diff-count-3_TRAIN_NA.csv", "ecg-diff-count-3_TEST.csv"),
}
CSV_TRAIN_SHARE = 0.7
DROPPED_COLUMNS = ("timestamp", "time", "date")
DESCRIPTIONS = {
    "sines": "embedded noisy sine/square/sawtooth waves, 64 steps x 1 channel (3 classes)",
    "sines-varlen": "embedded waves of 32..64 steps x 2 channels, padded + mask (3 classes)",
    "gunpoint": "UCR GunPoint, 150 steps, 50 train / 150 test (2 classes; needs aeon)",
    "italy-power": "UCR ItalyPowerDemand, 24 steps, 67 train / 1029 test (2 classes; needs aeon)",
    "kdd-tsad-135": "KDD-TSAD 135 anomaly series in windows (normal/anomaly; needs aeon)",
    "ecg-anomaly": "ECG-like anomaly series (aeon ecg-diff-count-3) in windows (needs aeon)",
    "csv": "your own series: a CSV, one row per step, one column per channel (needs --data-path)",
}


# ------------------------------------------------------------------------------ representation
def with_mask(values: list[np.ndarray], length: int | None = None) -> torch.Tensor:
    """Series of shapes (L_i, D) as one (N, T, D + 1) float32 tensor: values padded with zeros to
    T = length (default: the longest), then the mask channel (1 for t < L_i, 0 after)."""
    t = length or max(len(v) for v in values)
    d = values[0].shape[1]
    out = np.zeros((len(values), t, d + 1), dtype=np.float32)
    for i, v in enumerate(values):
        out[i, : len(v), :d] = v
        out[i, : len(v), d] = 1.0
    return torch.from_numpy(out)


def lengths(x: torch.Tensor) -> torch.Tensor:
    """Lengths L (N,) long of series x (N, T, D + 1): the number of observed steps (mask > 0)."""
    return (x[..., -1] > 0).sum(1)


def _check_finite(v: np.ndarray, what: str) -> None:
    """DataError naming the first NaN/inf step of a series v (L, D)."""
    bad = ~np.isfinite(v)
    if bad.any():
        step, channel = np.argwhere(bad)[0]
        raise DataError(
            f"{what} has NaN or infinite values (first at step {step}, channel {channel}); fill or drop them first"
        )


def windows(series: np.ndarray, window: int, stride: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a series (L, D): (N, window, D) every ``stride`` steps, and their starts (N,)."""
    if len(series) < window:
        raise DataError(f"{what} has {len(series)} steps, shorter than the window (--data-window {window})")
    starts = np.arange(0, len(series) - window + 1, stride)
    return np.stack([series[s : s + window] for s in starts]), starts


def regions(labels: np.ndarray) -> list[tuple[int, int]]:
    """The labelled anomalous regions [start, end) of per-step 0/1 labels (L,)."""
    padded = np.concatenate([[0], (labels > 0).astype(np.int8), [0]])
    edges = np.diff(padded)
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


# ------------------------------------------------------------------------------------ synthetic
def _waves(
    n: int, length: int, rng: np.random.Generator, varlen: bool
) -> tuple[list[np.ndarray], np.ndarray]:
    """n noisy waves (class 0 sine, 1 square, 2 sawtooth): a list of (L_i, D) arrays and labels (n,)."""
    y = rng.integers(len(SINE_CLASSES), size=n)
    period = rng.uniform(8.0, 24.0, size=n)
    phase = rng.uniform(0.0, 1.0, size=n)
    amp = rng.uniform(0.6, 1.2, size=n)
    lens = rng.integers(max(2, length // 2), length + 1, size=n) if varlen else np.full(n, length)
    out = []
    for i in range(n):
        t = np.arange(lens[i])[:, None] / period[i] + phase[i] + (np.array([[0.0, 0.25]]) if varlen else 0.0)
        frac = t - np.floor(t)  # position within the period, in [0, 1)
        wave = (np.sin(2 * np.pi * t), np.sign(np.sin(2 * np.pi * t)), 2.0 * frac - 1.0)[y[i]]
        out.append(amp[i] * wave + 0.1 * rng.standard_normal(wave.shape))  # (L_i, D)
    return out, y


def make_sines(name: str, split: str, length: int) -> TensorData:
    """The embedded synthetic set ``sines`` or ``sines-varlen`` (see the module docstring)."""
    rng = np.random.default_rng(SEEDS[split] + (10 if name == "sines-varlen" else 0))
    values, y = _waves(SINE_COUNTS[split], length, rng, varlen=name == "sines-varlen")
    x = with_mask(values, length)
    info = DatasetInfo(name=name, shape=tuple(x.shape[1:]), value_range=None, class_names=SINE_CLASSES)
    return TensorData(x=x, y=torch.from_numpy(y.astype(np.int64)), info=info, split=split)


# --------------------------------------------------------------------------------- aeon's files
def aeon_data_dir(name: str = "this dataset") -> Path:
    """The data directory inside the installed aeon package (found without importing aeon)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"{name} is read from the aeon package's bundled files: pip install 'genzoo[timeseries]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def aeon_present() -> bool:
    try:
        return aeon_data_dir().is_dir()
    except DataError:
        return False


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A .ts file (sktime/aeon format): series as (L_i, D) arrays and their class labels.

    After ``@data`` each line is ``dim_1:dim_2:...:label``, each dim comma-separated values."""
    if not path.is_file():
        raise DataError(f"{path} is missing (is the aeon package complete?)")
    series, labels, started = [], [], False
    for i, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not started:
            started = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        try:
            cols = [np.array([float(v) for v in d.split(",")]) for d in dims]
        except ValueError:
            raise DataError(f"{path} line {i}: a value is not a number") from None
        if len({len(c) for c in cols}) != 1:
            raise DataError(f"{path} line {i}: the channels have different lengths")
        v = np.stack(cols, axis=1)  # (L, D)
        _check_finite(v, f"{path.name} line {i}")
        series.append(v)
        labels.append(label.strip())
    if not series:
        raise DataError(f"{path} holds no series")
    return series, labels


def load_ucr(name: str, split: str) -> TensorData:
    """``gunpoint`` or ``italy-power``: one split as shipped (z-normalised by the archive)."""
    folder, _ = UCR[name]
    series, labels = read_ts(aeon_data_dir(name) / folder / f"{folder}_{split.upper()}.ts")
    names = tuple(sorted(set(labels), key=lambda s: (len(s), s)))  # "1", "2", ... in numeric order
    x = with_mask(series)
    y = torch.tensor([names.index(s) for s in labels], dtype=torch.long)
    info = DatasetInfo(name=name, shape=tuple(x.shape[1:]), value_range=None, class_names=names)
    return TensorData(x=x, y=y, info=info, split=split)


def read_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """A series CSV: values (L, D) float64, per-step 0/1 labels (L,) or None, the channel names.

    A first row with a non-numeric cell is the header; every other row must hold as many numeric
    cells as the first. Empty cells and 'nan' are missing values (an error)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file (--data-path: a CSV with one row per time step)")
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path} is empty")

    def number(s: str) -> bool:
        try:
            float(s)
            return True
        except ValueError:
            return not s.strip()  # an empty cell is a missing number, not text

    header = [c.strip() for c in rows[0]] if not all(number(c) for c in rows[0]) else None
    body = rows[1:] if header else rows
    width = len(header) if header else len(body[0]) if body else 0
    names = header or [f"value{j}" for j in range(width)]
    values = np.empty((len(body), width))
    for i, row in enumerate(body, 2 if header else 1):
        if len(row) != width:
            raise DataError(f"{path} row {i} has {len(row)} cells, the others {width} (ragged rows)")
        for j, cell in enumerate(row):
            try:
                values[i - (2 if header else 1), j] = float(cell) if cell.strip() else math.nan
            except ValueError:
                raise DataError(f"{path} row {i}, column {j + 1}: {cell.strip()!r} is not a number") from None
    keep = [j for j, n in enumerate(names) if n.lower() not in (*DROPPED_COLUMNS, "is_anomaly")]
    label_col = next((j for j, n in enumerate(names) if n.lower() == "is_anomaly"), None)
    if not keep:
        raise DataError(f"{path} has no value columns")
    if not len(values):
        raise DataError(f"{path} has a header but no rows")
    series = values[:, keep]
    bad = ~np.isfinite(series)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"{path} row {i + (2 if header else 1)}, column {keep[j] + 1} is NaN or missing; fill or drop it first"
        )
    labels = None if label_col is None else (np.nan_to_num(values[:, label_col]) > 0).astype(np.int64)
    return series, labels, [names[j] for j in keep]


@dataclass
class WindowedSeries:
    """One split of a windowed set: x (N, window, D + 1), y (N,) or None, the window starts (N,),
    the labelled regions [start, end) of the split's series and its length in steps."""

    x: torch.Tensor
    y: torch.Tensor | None
    starts: np.ndarray
    regions: list[tuple[int, int]]
    steps: int


def _parts(name: str, path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(normal training series (L, D), test series (L', D), test step labels or None, source name)."""
    if name == "csv":
        series, labels, _ = read_csv(path or "")
        cut = int(len(series) * CSV_TRAIN_SHARE)
        train = series[:cut]
        if labels is not None and labels[:cut].any():  # train on the normal steps only
            train = series[:cut][labels[:cut] == 0]
        return train, series[cut:], None if labels is None else labels[cut:], Path(path or "").name
    folder, train_file, test_file = ANOMALY[name]
    base = aeon_data_dir(name) / folder
    train, _, _ = read_csv(base / train_file)
    test, labels, _ = read_csv(base / test_file)
    return train, test, labels, name


def load_windows(
    name: str, split: str, window: int | None, stride: int | None, path: str | None = None
) -> WindowedSeries:
    """Windows of a windowed set (``kdd-tsad-135``, ``ecg-anomaly``, ``csv``), standardised by
    the training part; the test windows are labelled 1 if they overlap an anomalous region."""
    window = window or DEFAULT_WINDOW[name]
    stride = stride or max(1, window // 8)
    train, test, labels, what = _parts(name, path)
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    series = train if split == "train" else test
    part = "train" if split == "train" else "test"
    share = f" ({part} part)" if name == "csv" else f" ({part} series)"
    w, starts = windows((series - mean) / std, window, stride, what + share)
    x = with_mask(list(w))
    if split == "train":
        return WindowedSeries(
            x=x, y=torch.zeros(len(x), dtype=torch.long), starts=starts, regions=[], steps=len(series)
        )
    if labels is None:
        return WindowedSeries(x=x, y=None, starts=starts, regions=[], steps=len(series))
    regs = regions(labels)
    hit = np.zeros(len(starts), dtype=np.int64)
    for s, e in regs:  # window [a, a + window) overlaps [s, e)
        hit |= ((starts < e) & (starts + window > s)).astype(np.int64)
    return WindowedSeries(x=x, y=torch.from_numpy(hit), starts=starts, regions=regs, steps=len(series))


def load_series(
    name: str, split: str, window: int | None, stride: int | None, path: str | None
) -> TensorData:
    """One split of any series source, as TensorData with x (N, T, D + 1)."""
    if name in ("sines", "sines-varlen"):
        return make_sines(name, split, window or DEFAULT_WINDOW[name])
    if name in UCR:
        return load_ucr(name, split)
    ws = load_windows(name, split, window, stride, path)
    labelled = name != "csv" or _csv_labelled(path)  # a csv is labelled by an is_anomaly column
    names = ("normal", "anomaly") if labelled else None
    info = DatasetInfo(name=name, shape=tuple(ws.x.shape[1:]), value_range=None, class_names=names)
    return TensorData(x=ws.x, y=ws.y if labelled else None, info=info, split=split)


def _csv_labelled(path: str | None) -> bool:
    with open(path or "", newline="") as f:
        first = next(csv.reader(f), [])
    return any(c.strip().lower() == "is_anomaly" for c in first)


SERIES_SHAPES = {"sines": (64, 2), "sines-varlen": (64, 3), "gunpoint": (150, 2), "italy-power": (24, 2)}
SERIES_SHAPES |= {"kdd-tsad-135": (64, 2), "ecg-anomaly": (64, 2), "csv": None}
SERIES_CLASSES = {"sines": 3, "sines-varlen": 3, "gunpoint": 2, "italy-power": 2, "kdd-tsad-135": 2}
SERIES_CLASSES |= {"ecg-anomaly": 2, "csv": None}


def _series_options(name: str) -> tuple[str, ...]:
    """The data options a series source reads: sines their length, windowed sets window and
    stride, and csv its file."""
    if name in ("sines", "sines-varlen"):
        return ("window",)
    if name in ANOMALY:
        return ("window", "stride")
    return ("path", "window", "stride") if name == "csv" else ()


register(
    *(
        Source(
            name=name,
            load=lambda cfg, split, _n=name, **_: load_series(_n, split, cfg.window, cfg.stride, cfg.path),
            description=DESCRIPTIONS[name],
            kind="series",
            options=_series_options(name),
            needs=("path",) if name == "csv" else (),
            shape=SERIES_SHAPES[name],
            classes=SERIES_CLASSES[name],
            present=(lambda root: True)
            if name.startswith("sines")
            else (lambda root: False)
            if name == "csv"
            else (lambda root: aeon_present()),
        )
        for name in DESCRIPTIONS
    )
)


def plot_series(
    rows: list[torch.Tensor],
    path: str | Path | None = None,
    labels: tuple[str, ...] = ("series", "reconstruction"),
    per_row: int = 6,
    title: str | None = None,
) -> Figure:
    """Series drawn over each other, one panel per example: rows[k] (N, T, D + 1), e.g. the
    originals and their reconstructions; padding (mask 0) is not drawn; saved to ``path`` if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(rows[0]), per_row)
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 1.9), squeeze=False, sharey=True)
    styles = [
        dict(color="0.25", lw=1.4),
        dict(color="tab:red", lw=1.1, ls="--"),
        dict(color="tab:blue", lw=1.0),
    ]
    for i in range(n):
        ax = axes[0, i]
        for k, r in enumerate(rows):
            length = int(lengths(r[i : i + 1])[0])
            v = r[i, :length, :-1].numpy()  # (L, D)
            for c in range(v.shape[1]):
                ax.plot(v[:, c], **styles[k % len(styles)], label=labels[k] if (i == 0 and c == 0) else None)
        ax.set_xticks([])
    axes[0, 0].legend(fontsize=7, loc="upper left", frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
