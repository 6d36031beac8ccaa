"""Train the shipped feature network for a labelled image dataset and record it in the manifest.

    python scripts/train_feature_net.py --data mnist --data-root ../shared/data
    python scripts/train_feature_net.py --data fashion-mnist --data-root ../shared/data
    python scripts/train_feature_net.py --data digits --epochs 60 --max-shift 1 --threads 1

The architecture follows the dataset's image shape (``features.ARCHITECTURES``: 28x28 -> 128
features, 8x8 -> 64). Trains on the canonical training split (with small random shifts),
measures accuracy on the canonical test split after the last epoch, writes
genzoo/eval/weights/<data>.safetensors and its sha256, architecture and accuracy into
genzoo/eval/weights/manifest.json. Deterministic for a given seed and thread count.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from genzoo import io
from genzoo.data import DataConfig, list_datasets, load_dataset
from genzoo.eval.features import ARCHITECTURES, MANIFEST, WEIGHTS_DIR, arch_for_shape, extract, sha256_file


def trainable() -> list[str]:
    """Labelled image datasets with a feature network architecture for their shape."""
    shapes = {cls.input_shape for cls in ARCHITECTURES.values()}
    return [d["name"] for d in list_datasets() if d["classes"] and d["shape"] in shapes]


def shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to max_shift pixels (zero padding), one offset per batch."""
    if max_shift == 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    m = max_shift
    return torch.roll(F.pad(x, (m, m, m, m)), (dy, dx), dims=(2, 3))[:, :, m:-m, m:-m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, choices=trainable())
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shift", type=int, default=2, help="random translation in pixels (augmentation)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (results depend on it)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = DataConfig(name=args.data, root=args.data_root)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    arch = arch_for_shape(train.info.shape)
    net = ARCHITECTURES[arch](len(train.info.class_names))
    steps = args.epochs * (len(train) // args.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    g = torch.Generator().manual_seed(args.seed)
    t0, step = time.time(), 0
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(train), generator=g)
        for i in range(len(train) // args.batch_size):
            idx = perm[i * args.batch_size : (i + 1) * args.batch_size]
            loss = F.cross_entropy(net(shift(train.x[idx], g, args.max_shift)), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        net.eval()
        acc = (extract(net, test.x)[1].argmax(1) == test.y).float().mean().item()
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}, test accuracy {acc:.4f}, {time.time() - t0:.0f}s"
        )

    path = WEIGHTS_DIR / f"{args.data}.safetensors"
    io.save_tensors(path, net.state_dict(), {"dataset": args.data, "test_accuracy": f"{acc:.4f}"})
    entry = {
        "file": path.name,
        "arch": arch,
        "sha256": sha256_file(path),
        "test_accuracy": round(acc, 4),
        "classes": list(train.info.class_names),
        "trained_with": (
            f"scripts/train_feature_net.py --data {args.data} --epochs {args.epochs} --seed {args.seed} "
            f"--max-shift {args.max_shift} --lr {args.lr} --batch-size {args.batch_size}"
            + (f" --threads {args.threads}" if args.threads else "")
        ),
        "torch": torch.__version__,
    }
    man = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    man[args.data] = entry
    io.atomic_write_json(MANIFEST, man)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
