"""Write Fashion-MNIST as a folder of PNG photos: ``train/<class>/*.png`` and ``test/<class>/*.png``.

A real image folder to try ``kind: image_folder`` on (configs/images/fashion_folder.yaml)::

    sudo apt-get install -y dataset-fashion-mnist      # or pass --source with the IDX files
    python examples/fashion_folder.py photos --per-class 300
    dltrain run configs/images/fashion_folder.yaml

The images are Fashion-MNIST's own pixels (Zalando Research, MIT licence), one PNG each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dltrain.data.idx import read_idx_pair

CLASSES = (
    "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot",
)  # fmt: skip
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def write_folder(source: Path, out: Path, per_class: int, test_per_class: int) -> int:
    """Write up to ``per_class`` training and ``test_per_class`` test images per class."""
    written = 0
    for split, (images_name, labels_name) in FILES.items():
        images, labels = read_idx_pair(source / images_name, source / labels_name, None)
        limit = per_class if split == "train" else test_per_class
        for index, name in enumerate(CLASSES):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for number in np.flatnonzero(labels == index)[:limit]:
                Image.fromarray(images[number]).save(folder / f"{number:05d}.png")
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (train/ and test/ inside)")
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--per-class", type=int, default=300, help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=100, help="test images per class")
    args = parser.parse_args()
    count = write_folder(args.source, args.out, args.per_class, args.test_per_class)
    print(f"wrote {count} PNG files under {args.out}/")


if __name__ == "__main__":
    main()
