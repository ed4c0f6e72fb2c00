"""The book's one training loop, and the helpers it is made of.

:func:`train` fits any model whose batches can be turned into ``(logits,
targets)``: a seq2seq model under teacher forcing (chapters 4 and 7) as well as
a classifier (chapter 9). It is seeded, clips the gradient norm, ignores padded
targets in the loss (:func:`masked_cross_entropy`), shows a ``tqdm`` progress
bar and, in a notebook, a loss/accuracy plot that is redrawn in place after
every epoch (:mod:`attnbook.viz.live`).

Its update, :func:`optimizer_step` (zero the gradients, backpropagate, clip,
step), and its progress bar, :func:`progress_bar`, are also what the small
full-batch fits of chapters 1 and 2 use (``hard_attention.train_selector``,
``kernels.train_width``), whose objectives are not a cross-entropy over batches.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from attnbook._checks import (
    _describe,
    check_float,
    check_instance,
    check_int,
    tracing,
)

__all__ = [
    "History",
    "masked_cross_entropy",
    "optimizer_step",
    "progress_bar",
    "set_seed",
    "train",
]

#: ``forward(model, batch) -> (logits (..., V), targets (...))`` for one batch.
ForwardFn = Callable[
    [nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, torch.Tensor]
]


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh ``torch.Generator`` seeded the same."""
    check_int("seed", seed, low=0)
    if seed >= 2**64:
        raise ValueError(f"seed must be below 2**64 (torch's limit), got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _check_cross_entropy(
    logits: object, targets: object, pad_index: object, label_smoothing: object
) -> None:
    """:func:`masked_cross_entropy`'s inputs: float logits ``(..., V)``, ``V >= 1``; int64 targets
    ``(...)``, each ``pad_index`` or a class id in ``[0, V)`` (values unchecked while tracing)."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(
            f"logits must be a floating-point tensor (..., V), got {_describe(logits)}"
        )
    if not isinstance(targets, torch.Tensor) or targets.dtype != torch.long:
        raise TypeError(
            f"targets must be int64 class ids, got {_describe(targets)}"
        )
    V = logits.shape[-1] if logits.dim() else 0
    if logits.dim() < 2 or V == 0 or targets.shape != logits.shape[:-1]:
        raise ValueError(
            "logits (..., V) with V >= 1 and targets (...) must agree: got logits "
            f"{tuple(logits.shape)}, targets {tuple(targets.shape)}"
        )
    if pad_index is not None:
        check_int("pad_index", pad_index, low=None)
    if check_float("label_smoothing", label_smoothing, inclusive=True) >= 1.0:
        raise ValueError(
            f"label_smoothing must lie in [0, 1), got {label_smoothing!r}"
        )
    real = targets if pad_index is None else targets[targets != pad_index]
    if real.numel() and not tracing():
        lo, hi = (int(v) for v in torch.aminmax(real))
        if lo < 0 or hi >= V:
            raise ValueError(
                f"targets must be class ids in [0, {V - 1}] (or pad_index), got {lo}..{hi}"
            )


def masked_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pad_index: int | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy over the targets that are not ``pad_index``.

    Args:
        logits: ``(..., V)`` unnormalised scores, e.g. ``(B, T, V)``.
        targets: ``(...)`` class ids in ``[0, V)``, e.g. ``(B, T)``; positions equal
            to ``pad_index`` contribute nothing, neither to the sum nor to the count
            (PyTorch's ``ignore_index=-100`` is not special here).
        label_smoothing: ``eps`` in [0, 1): the target distribution puts ``1 - eps``
            on the true class and spreads ``eps`` uniformly over all classes
            (Szegedy et al., 2016).

    A batch with no target to count (all padding, or empty) has loss 0 (not NaN).
    """
    _check_cross_entropy(logits, targets, pad_index, label_smoothing)
    # (N, V), (N,)
    flat_logits, flat_targets = (
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
    )
    if pad_index is not None:
        # padded rows are dropped, not multiplied by 0 (0 * NaN = NaN: a -inf row)
        keep = flat_targets != pad_index
        flat_logits, flat_targets = flat_logits[keep], flat_targets[keep]
    total = nn.functional.cross_entropy(
        flat_logits, flat_targets, reduction="sum", label_smoothing=label_smoothing
    )
    return total / max(len(flat_targets), 1)


def _score(value: object) -> float:
    """``validate``'s result as a float."""
    try:
        return float(value)  # a Python number, NumPy scalar or one-element tensor
    except (TypeError, ValueError):
        raise TypeError(
            f"validate must return a number, got {type(value).__name__}"
        ) from None


@dataclass
class History:
    """What :func:`train` measured.

    Attributes:
        batch_loss, batch_accuracy: per mini-batch, the mean loss per
            (non-padding) target and the fraction of targets the logits' argmax
            gets right (under teacher forcing, for a seq2seq model).
        epoch_loss, epoch_accuracy: the same over each whole epoch.
        valid: the ``validate`` metric after each epoch (empty without one).
        seconds: wall-clock time of the whole call, validation and plotting included.
    """

    batch_loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    epoch_accuracy: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    seconds: float = 0.0


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    clip_norm: float | None = None,
) -> None:
    """One update of every training loop in the book: zero the gradients, backpropagate ``loss``,
    clip the gradients' total norm to ``clip_norm`` (``None``: no clipping; else a finite number > 0),
    take the optimizer's step."""
    check_instance("optimizer", optimizer, torch.optim.Optimizer)
    # a negative norm would flip the gradient, 0 would cancel the step
    if clip_norm is not None:
        check_float("clip_norm", clip_norm)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(
            [p for group in optimizer.param_groups for p in group["params"]],
            clip_norm,
        )
    optimizer.step()


#: Set by the book's build (``code/bookext/notebooks.py``): the outputs become a static page, where a
#: progress bar widget would only be a frozen bar that costs the page the full widget manager.
STATIC_PAGE_ENV = "ATTNBOOK_STATIC_PAGE"


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "step"):
    """The book's progress bar (``tqdm.auto``: a widget in a notebook, text elsewhere), imported on first use.

    Off while the book's build executes a chapter for the website (``$ATTNBOOK_STATIC_PAGE``).
    """
    if enabled and os.environ.get(STATIC_PAGE_ENV):
        enabled = False
    if not enabled:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=True)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def train(
    model: nn.Module,
    data: Sequence[torch.Tensor],
    forward: ForwardFn,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    pad_index: int | None = None,
    clip_norm: float = 1.0,
    seed: int = 0,
    validate: Callable[[nn.Module], float] | None = None,
    valid_name: str = "validation",
    name: str = "training",
    live: bool = True,
    label_smoothing: float = 0.0,
) -> History:
    """Train ``model`` with Adam on mini-batches of ``data`` for ``epochs`` passes.

    Args:
        data: tensors with the same first dimension (examples), e.g. ``(src,
            src_len, tgt)``; a batch is the same random rows of each, moved to
            the model's device.
        forward: ``forward(model, batch) -> (logits, targets)``; for a seq2seq
            model this is teacher forcing.
        pad_index: targets with this id are ignored by the loss and the accuracy.
        clip_norm: the gradient's total norm is clipped to this (exploding
            gradients are the classic failure of recurrent networks).
        seed: seeds the shuffling (and anything else random during training).
            Seed *before* building the model to make its initialisation repeatable too.
        validate: called after every epoch in eval mode, e.g. exact match on a
            validation set; its values go to ``History.valid`` and the plot.
        live: show the progress bar and, in a notebook, the live plot.
        label_smoothing: passed to :func:`masked_cross_entropy` (0: plain cross-entropy).

    Returns:
        The :class:`History` of the run.
    """
    check_instance("model", model)
    if not callable(forward):
        raise TypeError(
            f"forward must be callable (model, batch) -> (logits, targets), got {type(forward).__name__}"
        )
    if validate is not None and not callable(validate):
        raise TypeError(
            f"validate must be callable (model) -> float or None, got {type(validate).__name__}"
        )
    if (
        not isinstance(data, (list, tuple))
        or not data
        or not all(isinstance(t, torch.Tensor) for t in data)
    ):
        raise TypeError(
            f"data must be a non-empty sequence of tensors (list or tuple), got {type(data).__name__}"
        )
    n = data[0].shape[0] if data[0].dim() else 0
    if any(t.dim() == 0 or t.shape[0] != n for t in data) or n == 0:
        raise ValueError(
            f"data tensors must share a non-zero first dimension, got {[tuple(t.shape) for t in data]}"
        )
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    check_float("lr", lr)
    check_float("clip_norm", clip_norm)
    check_float("label_smoothing", label_smoothing, inclusive=True)

    start = time.perf_counter()
    generator = set_seed(seed)
    params = list(model.parameters())
    if not params:
        raise ValueError(
            f"model has no parameters to train: {type(model).__name__}"
        )
    device = params[0].device
    optimizer = torch.optim.Adam(params, lr=lr)
    history = History()
    n_batches = -(-n // batch_size)
    plot = None
    if live and _in_notebook():
        # matplotlib: only when a plot is drawn
        from attnbook.viz.live import LivePlot

        plot = LivePlot(name, valid_name, epochs * n_batches, n_batches)
    redraw_every = max(1, epochs * n_batches // 4)
    # a static page shows only the finished plot: draw it once, after the last epoch
    final_only = bool(os.environ.get(STATIC_PAGE_ENV))
    with progress_bar(epochs * n_batches, name, live, unit="batch") as bar:
        for _ in range(epochs):
            model.train()
            total_loss, correct, count = 0.0, 0, 0
            for idx in torch.randperm(n, generator=generator).split(batch_size):
                batch = tuple(t[idx].to(device) for t in data)
                logits, targets = forward(model, batch)
                loss = masked_cross_entropy(
                    logits, targets, pad_index, label_smoothing
                )
                optimizer_step(optimizer, loss, clip_norm)
                with torch.no_grad():
                    keep = (
                        targets != pad_index
                        if pad_index is not None
                        else torch.ones_like(targets, dtype=torch.bool)
                    )
                    k, hits = (
                        int(keep.sum()),
                        int(((logits.argmax(-1) == targets) & keep).sum()),
                    )
                history.batch_loss.append(loss.item())
                history.batch_accuracy.append(hits / max(k, 1))
                total_loss, correct, count = (
                    total_loss + loss.item() * k,
                    correct + hits,
                    count + k,
                )
                bar.update(1)
                if (
                    plot is not None
                    and not final_only
                    and bar.n % redraw_every == 0
                    and bar.n % n_batches != 0
                ):
                    plot.update(history)
            history.epoch_loss.append(total_loss / max(count, 1))
            history.epoch_accuracy.append(correct / max(count, 1))
            postfix = {
                "loss": f"{history.epoch_loss[-1]:.3f}",
                "acc": f"{history.epoch_accuracy[-1]:.3f}",
            }
            if validate is not None:
                model.eval()
                history.valid.append(_score(validate(model)))
                model.train()
                postfix["valid"] = f"{history.valid[-1]:.3f}"
            bar.set_postfix(postfix)
            if plot is not None and not (
                final_only and len(history.epoch_loss) < epochs
            ):
                plot.update(history)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
