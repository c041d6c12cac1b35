"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (nothing is downloaded).

The IDX files live in ``/usr/share/datasets/fashion-mnist``; the environment variable
``PATSPARSE_FASHION_MNIST_DIR`` points elsewhere. Images are returned as float32 tensors
``(N, 1, 28, 28)`` normalised with the training set's mean and std, labels as int64.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install it with: apt-get install dataset-fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training set
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


class DataError(RuntimeError):
    """The data set is missing or unreadable; the message says how to fix it."""


def data_dir() -> Path:
    return Path(os.environ.get("PATSPARSE_FASHION_MNIST_DIR", DEFAULT_DIR))


def _read_idx(path: Path, magic: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"Fashion-MNIST file {path} not found; {INSTALL_HINT}") from None
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read Fashion-MNIST file {path}: {err}") from None
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}")
    return data.reshape(dims)


def load_fashion_mnist(split: str = "train", limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 1, 28, 28)`` float32 (normalised) and labels ``(N,)`` int64 of a split.

    ``split`` is "train" (60k) or "test" (10k); ``limit`` keeps the first ``limit`` examples.
    Raises :class:`DataError` with the install command when the package is missing.
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = data_dir()
    if not root.is_dir():
        raise DataError(f"Fashion-MNIST not found in {root}; {INSTALL_HINT}")
    images = _read_idx(root / f"{prefix}-images-idx3-ubyte.gz", 0x00000803)
    labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte.gz", 0x00000801)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - MEAN) / STD
    return x.unsqueeze(1).contiguous(), torch.from_numpy(labels.astype(np.int64))


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, seed: int | None = None,
            epoch: int = 0, rank: int = 0, world_size: int = 1, augment: bool = False):
    """Yield ``(x, y)`` mini-batches of this rank's share of the data.

    With a ``seed`` the order is a permutation drawn from ``(seed, epoch)`` alone, so a
    resumed run sees exactly the batches it would have seen; ranks take interleaved slices
    of the same permutation (like DistributedSampler, padded to equal length). ``augment``
    adds random horizontal flips, also drawn from ``(seed, epoch)``.
    """
    n = len(images)
    if seed is None:
        order = torch.arange(n)
    else:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen)
    if world_size > 1:
        per_rank = -(-n // world_size)
        order = torch.cat([order, order[: per_rank * world_size - n]])[rank::world_size]
    flips = None
    if augment and seed is not None:
        gen = torch.Generator().manual_seed(seed * 7_000_003 + epoch + 17)
        flips = torch.rand(len(order), generator=gen) < 0.5
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        x = images[index]
        if flips is not None:
            flip = flips[start:start + batch_size]
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        yield x, labels[index]
