"""One place that chooses where tensors live (CUDA, Apple MPS, or the CPU) and how many CPU threads torch uses."""

from __future__ import annotations

import torch

from attnbook._checks import check_int

__all__ = ["get_device", "set_cpu_threads"]


def set_cpu_threads(n: int) -> int:
    """Set torch's (process-wide) number of CPU threads to ``n``; return the previous number.

    The book's models are small: their run time is dominated by many small
    operations, which gain little from splitting across cores and lose a lot
    when the threads wait for each other -- measured on a busy 2-core machine,
    2 threads made chapter 1's per-example gradients ~30x slower than 1 thread.
    """
    check_int("n", n)
    if n >= 2**31:
        raise ValueError(f"n must be below 2**31 threads, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def get_device(verbose: bool = True, cpu_threads: int | None = 1) -> torch.device:
    """Return the best available device (CUDA > MPS > CPU) and say which.

    On the CPU it also calls :func:`set_cpu_threads` with ``cpu_threads`` -- a
    process-wide setting, so it is printed -- (``None`` leaves torch's thread
    count alone). Every result in the book is measured on a 2-core CPU with one
    thread; a GPU only makes the chapters faster.
    """
    if cpu_threads is not None:
        check_int("cpu_threads", cpu_threads)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        name = torch.cuda.get_device_name(device)
    elif (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        device, name = torch.device("mps"), "Apple GPU (MPS)"
    else:
        before = torch.get_num_threads()
        if cpu_threads is not None and cpu_threads != before:
            set_cpu_threads(cpu_threads)
        threads = torch.get_num_threads()
        change = f", was {before}" if threads != before else ""
        plural = "s" if threads > 1 else ""
        device, name = torch.device("cpu"), f"{threads} thread{plural}{change}"
    if verbose:
        print(f"attnbook: using {device.type} ({name}), torch {torch.__version__}")
    return device
