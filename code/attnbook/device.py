"""One place that chooses where tensors live: CUDA, Apple MPS, or the CPU."""

from __future__ import annotations

import torch

__all__ = ["get_device"]


def get_device(verbose: bool = True, cpu_threads: int | None = 1) -> torch.device:
    """Return the best available device (CUDA > MPS > CPU) and say which.

    On the CPU it also sets torch's thread count to ``cpu_threads`` (``None``
    keeps torch's default). The book's models are small: their run time is
    dominated by many small operations, which gain little from splitting across
    cores and lose a lot when the threads wait for each other -- measured on a
    busy 2-core machine, 2 threads made chapter 1's per-example gradients ~30x
    slower than 1 thread. Every result in the book is measured on a 2-core CPU;
    a GPU only makes the chapters faster.
    """
    if cpu_threads is not None and (not isinstance(cpu_threads, int) or isinstance(cpu_threads, bool) or cpu_threads < 1):
        raise ValueError(f"cpu_threads must be a positive int or None, got {cpu_threads!r}")
    if torch.cuda.is_available():
        device = torch.device("cuda")
        name = torch.cuda.get_device_name(device)
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device, name = torch.device("mps"), "Apple GPU (MPS)"
    else:
        if cpu_threads is not None:
            torch.set_num_threads(cpu_threads)
        threads = torch.get_num_threads()
        device, name = torch.device("cpu"), f"CPU, {threads} thread{'s' if threads > 1 else ''}"
    if verbose:
        print(f"attnbook: using {device.type} ({name}), torch {torch.__version__}")
    return device
