"""Throughput of Inception-v3 (FID variant) feature extraction, to plan an Inception FID run.

Speed does not depend on the weights' values, so random weights are used when none are given.

    python benchmarks/bench_inception.py [--threads 1,2] [--batch 50] [--images 200] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

from genzoo.eval.features import Extractor
from genzoo.eval.inception import InceptionV3FID, for_inference, load_inception


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--images", type=int, default=200, help="images timed per setting")
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights", default=None, help="real weights (optional; speed is the same)")
    args = p.parse_args()

    net = load_inception(args.weights) if args.weights else for_inference(InceptionV3FID())
    ext = Extractor("inception-v3", "-", net, None, args.batch)
    x = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {datetime.date.today()}")
    print("| threads | device | batch | images/s | 10,000 images |\n| ---: | --- | ---: | ---: | ---: |")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        ext.extract(x[: args.batch], args.device)  # warm-up
        t0 = time.perf_counter()
        ext.extract(x, args.device)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rate = args.images / (time.perf_counter() - t0)
        print(f"| {threads} | {args.device} | {args.batch} | {rate:.1f} | {10_000 / rate / 60:.1f} min |")


if __name__ == "__main__":
    main()
