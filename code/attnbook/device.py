"""One place that chooses where tensors live: CUDA, Apple MPS, or the CPU."""

from __future__ import annotations

import torch

__all__ = ["get_device"]


def get_device(verbose: bool = True) -> torch.device:
    """Return the best available device (CUDA > MPS > CPU) and say which.

    Every result in the book is measured on a 2-core CPU; a GPU only makes the
    chapters faster.
    """
    if torch.cuda.is_available():
        device = torch.device("cuda")
        name = torch.cuda.get_device_name(device)
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device, name = torch.device("mps"), "Apple GPU (MPS)"
    else:
        device, name = torch.device("cpu"), f"CPU, {torch.get_num_threads()} threads"
    if verbose:
        print(f"attnbook: using {device.type} ({name}), torch {torch.__version__}")
    return device
