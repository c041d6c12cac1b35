"""Where training data come from: Fashion-MNIST (the default), an image folder, or your factory.

- ``"fashion-mnist"``: the Debian package's files (:mod:`patsparse.pruning.data`).
- a folder in ``torchvision.datasets.ImageFolder`` layout (``root/class_x/img.png``; classes are
  the sub-folder names, sorted, numbered from 0; files with torchvision's ``IMG_EXTENSIONS``).
  If ``root`` holds ``train/`` and ``test/`` (or ``val/``) folders in that layout they are the
  splits, else a seeded ``test_fraction`` of the images is held out. torchvision itself is not
  used (its wheels here are CUDA builds that do not import beside the CPU torch), so
  :class:`ImageFolder` is a small reimplementation with Pillow: images are converted to the
  model's channels (L or RGB), resized to its input size, scaled to [0, 1] and optionally
  normalised with a per-channel mean and std.
- ``"module.path:factory"``: a function returning ``(train, test)``, each a map-style dataset
  (``len`` and ``[i] -> (image tensor, label)``) or a ``DataLoader``.

A :class:`Split` gives mini-batches whose order depends only on (seed, epoch) for datasets, so
``--resume`` is exact and DDP ranks take interleaved slices; a DataLoader is iterated as it is
(give it a ``DistributedSampler`` under DDP; its ``set_epoch`` is called).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from . import data as fmnist
from .data import DataError

#: The file name endings torchvision's ImageFolder accepts (torchvision.datasets.folder.IMG_EXTENSIONS).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
FASHION_MNIST = "fashion-mnist"


class ImageFolder:
    """Images in ``root/class_x/*.png`` layout, like ``torchvision.datasets.ImageFolder``.

    ``image_size`` is ``(H, W)``; ``channels`` 1 (grey) or 3 (RGB); ``mean`` / ``std`` one value
    per channel (or ``None``: no normalisation). ``dataset[i]`` is ``(float32 (C, H, W), int label)``.

    >>> folder = ImageFolder("imgs", (32, 32), channels=3)  # doctest: +SKIP
    >>> folder.classes, len(folder), folder[0][0].shape     # doctest: +SKIP
    (['cat', 'dog'], 40, torch.Size([3, 32, 32]))
    """

    def __init__(self, root, image_size, channels: int = 3, mean=None, std=None, samples=None, classes=None):
        self.root = Path(root)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        if channels not in (1, 3):
            raise DataError(f"{root}: the model takes {channels} input channels; an image folder gives 1 (grey) or 3 (RGB)")
        self.channels = channels
        self.mean = None if mean is None else torch.tensor([float(m) for m in mean]).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor([float(s) for s in std]).view(-1, 1, 1)
        for name, value in (("mean", self.mean), ("std", self.std)):
            if value is not None and len(value) not in (1, channels):
                raise DataError(f"{root}: --image-{name} has {len(value)} values; expected 1 or {channels}")
        if samples is None:
            self.classes, self.samples = find_images(self.root)
        else:
            self.classes, self.samples = list(classes), list(samples)
        self.targets = [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.channels == 1 else "RGB")
                image = image.resize((self.image_size[1], self.image_size[0]), Image.BILINEAR)
                array = np.asarray(image, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(f"{path}: cannot read the image ({err})") from None
        x = torch.from_numpy(array.copy())
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x.contiguous(), label


def find_images(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """``(classes, [(path, class index)])`` of an ImageFolder-layout folder; DataError when empty."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (expected an image folder: root/class_x/image.png)")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class folders (expected an image folder: root/class_x/image.png, "
                        f"with {', '.join(IMG_EXTENSIONS)} files)")
    samples, empty = [], []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            empty.append(name)
        samples += [(path, index) for path in files]
    if empty:
        raise DataError(f"{root}: class folder(s) {', '.join(empty)} hold no images (expected files ending in "
                        f"{', '.join(IMG_EXTENSIONS)})")
    return classes, samples


class TensorData:
    """Images and labels held as two tensors (Fashion-MNIST): a dataset with fast batching."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])


class _Subset:
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[self.indices[index]]


def _is_loader(obj) -> bool:
    return isinstance(obj, torch.utils.data.DataLoader)


class Split:
    """One split (train or test) of the data: a map-style dataset or a DataLoader."""

    def __init__(self, source, name: str):
        self.source, self.name = source, name
        self.is_loader = _is_loader(source)
        if not self.is_loader and not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
            raise DataError(f"{name}: a {type(source).__name__}; expected a map-style dataset (len and [i]) or a DataLoader")

    def __len__(self) -> int:
        return len(self.source.dataset) if self.is_loader else len(self.source)

    def limited(self, limit: int | None) -> Split:
        """The first ``limit`` examples (a DataLoader is not cut)."""
        if limit is None or self.is_loader or limit >= len(self):
            return self
        if isinstance(self.source, TensorData):
            return Split(TensorData(self.source.images[:limit], self.source.labels[:limit]), self.name)
        return Split(_Subset(self.source, range(limit)), self.name)

    def num_batches(self, batch_size: int, world: int = 1) -> int:
        if self.is_loader:
            return len(self.source)
        return math.ceil(math.ceil(len(self) / world) / batch_size)

    def _gather(self, index: torch.Tensor):
        if isinstance(self.source, TensorData):
            return self.source.images[index], self.source.labels[index]
        xs, ys = [], []
        for i in index.tolist():
            x, y = self.source[i]
            xs.append(torch.as_tensor(x))
            ys.append(int(y))
        return torch.stack(xs), torch.tensor(ys, dtype=torch.long)

    def batches(self, batch_size: int, *, seed: int | None = None, epoch: int = 0, rank: int = 0, world: int = 1,
                augment: bool = False):
        """``(x, y)`` mini-batches of this rank's share, in an order fixed by (seed, epoch)."""
        if self.is_loader:
            sampler = getattr(self.source, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            for x, y in self.source:
                yield x, y
            return
        if isinstance(self.source, TensorData):
            yield from fmnist.batches(self.source.images, self.source.labels, batch_size, seed=seed, epoch=epoch,
                                      rank=rank, world_size=world, augment=augment)
            return
        n = len(self)
        order = torch.arange(n) if seed is None else \
            torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        if world > 1:
            per_rank = -(-n // world)
            order = torch.cat([order, order[: per_rank * world - n]])[rank::world]
        flips = None
        if augment and seed is not None:
            flips = torch.rand(len(order), generator=torch.Generator().manual_seed(seed * 7_000_003 + epoch + 17)) < 0.5
        for start in range(0, len(order), batch_size):
            x, y = self._gather(order[start:start + batch_size])
            if flips is not None:
                x = torch.where(flips[start:start + batch_size].view(-1, *[1] * (x.ndim - 1)), x.flip(-1), x)
            yield x, y

    def eval_batches(self, batch_size: int = 500, rank: int = 0, world: int = 1):
        """Every example once, sharded over ranks (a DataLoader: as it iterates)."""
        if self.is_loader:
            yield from self.source
            return
        index = torch.arange(rank, len(self), world)
        for start in range(0, len(index), batch_size):
            yield self._gather(index[start:start + batch_size])

    def first_sample(self):
        if self.is_loader:
            x, y = next(iter(self.source))
            return x[0], y[0]
        return self.source[0]


def first_conv_channels(model) -> int | None:
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            return module.in_channels
    return None


def parse_numbers(text: str | None, what: str, kind=float) -> list | None:
    """``"0.5,0.5,0.5"`` -> [0.5, 0.5, 0.5] (``None`` stays ``None``); DataError otherwise."""
    if text is None:
        return None
    try:
        values = [kind(part) for part in str(text).replace("x", ",").split(",") if part.strip()]
    except ValueError:
        raise DataError(f"{what} {text!r}: expected comma-separated numbers") from None
    if not values:
        raise DataError(f"{what} {text!r}: expected comma-separated numbers")
    return values


def open_data(source: str, *, model=None, image_size=None, mean=None, std=None, test_fraction: float = 0.2,
              seed: int = 0, search=()) -> tuple[Split, Split, str]:
    """``(train, test, description)`` for ``source`` (see the module docstring); DataError on bad input."""
    if source == FASHION_MNIST:
        train = TensorData(*fmnist.load_fashion_mnist("train"))
        test = TensorData(*fmnist.load_fashion_mnist("test"))
        return Split(train, "fashion-mnist train"), Split(test, "fashion-mnist test"), FASHION_MNIST
    path = Path(source)
    if path.is_dir() or ":" not in source or path.exists():
        return _open_folder(path, model, image_size, mean, std, test_fraction, seed)
    return _open_factory(source, search)


def _open_folder(root: Path, model, image_size, mean, std, test_fraction, seed):
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected an image folder (root/class_x/image.png), "
                        "fashion-mnist or a module.path:factory")
    channels = first_conv_channels(model) if model is not None else 3
    if channels is None:
        raise DataError(f"{root}: the model has no Conv2d, so its input channels are unknown")
    size = image_size
    if size is None:
        size = getattr(model, "input_shape", None)
        size = tuple(size)[-2:] if size is not None else None
    splits = {name: root / name for name in ("train", "test", "val") if (root / name).is_dir()}
    if "train" in splits and ("test" in splits or "val" in splits):
        train_classes, train_samples = find_images(splits["train"])
        test_root = splits.get("test", splits.get("val"))
        test_classes, test_samples = find_images(test_root)
        if test_classes != train_classes:
            raise DataError(f"{test_root}: classes {', '.join(test_classes)} differ from {splits['train']}'s "
                            f"{', '.join(train_classes)}")
    else:
        train_classes, samples = find_images(root)
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"--test-fraction {test_fraction}: expected a value between 0 and 1")
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
        held = max(1, round(test_fraction * len(samples)))
        if held >= len(samples):
            raise DataError(f"{root}: {len(samples)} image(s) are too few to hold out a test split")
        test_samples = [samples[i] for i in sorted(order[:held])]
        train_samples = [samples[i] for i in sorted(order[held:])]
        test_root = root
    if size is None:
        from PIL import Image

        with Image.open(train_samples[0][0]) as image:
            size = (image.height, image.width)
    make = lambda samples, where: ImageFolder(where, size, channels, mean, std, samples, train_classes)
    description = f"image folder {root} ({len(train_classes)} classes, {size[0]}x{size[1]})"
    return Split(make(train_samples, root), f"{root} (train)"), Split(make(test_samples, test_root), f"{test_root} (test)"), \
        description


def _open_factory(source: str, search):
    from .checkpoint import CheckpointError, resolve_factory

    try:
        factory = resolve_factory(source, search, where="--data")
    except CheckpointError as err:
        raise DataError(str(err).replace("model ", "data ", 1)) from None
    try:
        result = factory()
    except Exception as err:  # noqa: BLE001  (the user's factory failed: report it in one line)
        from .checkpoint import _first_line

        raise DataError(f"--data {source}: calling it failed ({_first_line(err)}); expected a function that "
                        "returns (train, test) datasets or DataLoaders") from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise DataError(f"--data {source}: returned a {type(result).__name__}; expected a pair (train, test) of "
                        "datasets or DataLoaders")
    return Split(result[0], f"{source} (train)"), Split(result[1], f"{source} (test)"), source
