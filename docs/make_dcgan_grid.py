"""64 random faces from the DCGAN's generator in eval mode, as the latent search sees it.

    python docs/make_dcgan_grid.py [--weights dcgan.safetensors] [--seed 0] [-o docs/dcgan-samples.png]

z is drawn uniformly in [-1, 1]^100 (the box the search clamps to); the 64 x 64 faces are laid out
8 x 8 at their own size (the PNG stays small in the repository). The README shows the result: if it
is speckle, BatchNorm's eval statistics do not match what G learned (see training/dcgan.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from engine.imagesave import save_image
from engine.models.dcgan import DCGANArchitecture, DCGANNet
from engine.models.torch_base import load_network, tensor_to_image

DOCS = Path(__file__).resolve().parent


def sample_grid(net: DCGANNet, count: int = 64, seed: int = 0, columns: int = 8, enlarge: int = 1) -> np.ndarray:
    z = torch.rand(count, net.arch.latent_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        faces = [tensor_to_image(face) for face in net.generator(z.to(next(net.parameters()).device))]
    rows = [np.concatenate(faces[r : r + columns], axis=1) for r in range(0, count, columns)]
    grid = np.concatenate(rows, axis=0)
    return grid.repeat(enlarge, axis=0).repeat(enlarge, axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="dcgan", help="a .safetensors file (default: the shipped DCGAN)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=DOCS / "dcgan-samples.png")
    args = parser.parse_args(argv)
    net, _ = load_network(args.weights, DCGANNet, DCGANArchitecture)
    save_image(args.output, sample_grid(net, seed=args.seed), overwrite=True)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
