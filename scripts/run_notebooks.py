"""Execute lab notebooks at their full settings and keep what they show.

    python scripts/run_notebooks.py notebooks/01_autoencoder.py [...] --out nbruns

Each notebook runs top to bottom in a fresh kernel (nbclient, no time limit) with ``--out`` as
its working directory (its runs land in ``--out/runs``). Written per notebook: the executed
``NN_name.ipynb``, its printed text ``NN_name.txt`` and its figures ``NN_name-K.png``, and the
wall time in ``times.json``. ``GENZOO_QUICK=1`` in the environment runs the quick settings.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat


def run(path: Path, out: Path) -> float:
    nb = jupytext.reads(path.read_text(), fmt="py:percent")
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(out)}}
    )
    try:
        client.execute()
    finally:  # keep what ran, even when a cell failed
        seconds = time.perf_counter() - start
        nbformat.write(nb, out / f"{path.stem}.ipynb")
        text, k = [], 0
        for cell in nb.cells:
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":
                    text.append(o["text"])
                elif "image/png" in o.get("data", {}):
                    k += 1
                    (out / f"{path.stem}-{k}.png").write_bytes(base64.b64decode(o["data"]["image/png"]))
                elif "text/plain" in o.get("data", {}):
                    text.append(o["data"]["text/plain"] + "\n")
                elif o.get("output_type") == "error":
                    text.append("\n".join(o.get("traceback", [])))
        (out / f"{path.stem}.txt").write_text("".join(text))
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("nbruns"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    times_file = args.out / "times.json"
    for path in args.notebooks:
        seconds = run(path.resolve(), args.out)
        times = json.loads(times_file.read_text()) if times_file.is_file() else {}
        times[path.stem] = round(seconds, 1)
        times_file.write_text(json.dumps(times, indent=1))
        print(f"{path.stem}: {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
