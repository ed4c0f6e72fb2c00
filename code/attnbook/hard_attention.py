"""Soft vs hard attention, and how to train the hard kind (chapter 1).

Both read the same attention distribution ``alpha = softmax(scores)`` over n
items with values ``v_i``:

* **soft** attention returns the expectation ``sum_i alpha_i v_i`` -- a smooth
  function of the scores, so the loss has a gradient;
* **hard** attention returns one value, ``v_argmax`` (or a sample
  ``v_I, I ~ alpha``) -- piecewise constant in the scores, so backpropagation
  finds no gradient at all.

Hard attention is trained instead on the *expected* loss
``J = E_{I ~ alpha}[L(v_I)]`` with the score-function (REINFORCE) estimator of
Williams (1992), ``grad J = E[(L(v_I) - b) grad log alpha_I]``, as in the
hard-attention captioner of Xu et al. (2015). It is unbiased for any baseline
``b`` that does not depend on ``I``, but noisy -- this module measures how noisy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from attnbook._checks import (
    check_choice,
    check_float,
    check_instance,
    check_int,
    check_tensor,
    tracing,
)
from attnbook.attention import BilinearScore
from attnbook.data.toys import SelectionTask, make_selection_task
from attnbook.train import optimizer_step

__all__ = [
    "TrainingCurve",
    "gradient_samples",
    "hard_attention",
    "item_scores",
    "reinforce_surrogate",
    "soft_attention",
    "train_selector",
    "uniform_scorer",
]


def uniform_scorer(dim: int) -> BilinearScore:
    """A bilinear score ``q^T W k`` (Luong et al., 2015) with ``W = 0``: uniform attention, nothing learned yet."""
    scorer = BilinearScore(dim, dim)
    nn.init.zeros_(scorer.W)
    return scorer


def item_scores(
    scorer: BilinearScore, queries: torch.Tensor, keys: torch.Tensor
) -> torch.Tensor:
    """One query per example: ``queries (B, d)``, ``keys (B, n, d)`` -> scores ``(B, n)``."""
    check_tensor("queries", queries, "(B, d), one query per example", dim=2)
    # (B, 1, d) x (B, n, d) -> (B, 1, n) -> (B, n)
    return scorer(queries.unsqueeze(1), keys).squeeze(1)


def _check_items(
    scores: object, values: object, wanted: object = None, baseline: object = 0.0
) -> None:
    """Finite ``scores (B, n)`` with ``n >= 1`` and ``values (B, n, d_v)`` of their dtype: one score per item;
    for :func:`reinforce_surrogate` also ``wanted (B, d_v)`` and ``baseline``, a finite number or a
    float tensor ``()`` or ``(B,)``. (Finiteness of the scores is a value check: skipped while tracing.)
    """
    check_tensor("scores", scores, "(batch, n_items)", dim=2)
    B, n = scores.shape
    check_tensor("values", values, f"({B}, {n}, d_v): one value per score", dim=3)
    if values.shape[:2] != scores.shape or n == 0:
        raise ValueError(
            f"scores (B, n) and values (B, n, d_v) must hold one score per item, n >= 1; "
            f"got scores {tuple(scores.shape)} and values {tuple(values.shape)}"
        )
    if values.dtype != scores.dtype:
        raise TypeError(
            f"scores and values must share one dtype, got {scores.dtype} and {values.dtype}"
        )
    if not tracing() and not bool(torch.isfinite(scores).all()):
        raise ValueError(
            "scores must be finite: an inf or NaN score leaves no attention distribution"
        )
    if wanted is None:
        return
    d_v = values.shape[2]
    check_tensor("wanted", wanted, f"({B}, {d_v})", dim=2)
    if wanted.shape != (B, d_v):
        raise ValueError(
            f"wanted must have shape ({B}, {d_v}), got {tuple(wanted.shape)}"
        )
    if not isinstance(baseline, torch.Tensor):
        check_float("baseline", baseline, -math.inf)
    elif not baseline.is_floating_point():
        raise TypeError(
            f"baseline must be a float tensor, got dtype {baseline.dtype}"
        )
    elif baseline.shape not in ((), (B,)):
        raise ValueError(
            f"baseline must have shape () or ({B},), got {tuple(baseline.shape)}"
        )


def soft_attention(scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Expectation of the values under ``softmax(scores)``:
    ``(B, n), (B, n, d_v) -> (B, d_v)``; finite scores, one dtype."""
    _check_items(scores, values)
    alpha = scores.softmax(dim=-1)  # (B, n)
    # (B, 1, n) @ (B, n, d_v) -> (B, d_v)
    return torch.bmm(alpha.unsqueeze(1), values).squeeze(1)


def hard_attention(scores: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The value of the highest-scoring item: ``(B, n), (B, n, d_v) -> (B, d_v)``.

    ``argmax`` is an integer: nothing flows back from the output to ``scores``.
    Finite scores, one dtype, as for :func:`soft_attention`.
    """
    _check_items(scores, values)
    index = scores.argmax(dim=-1)  # (B,)
    return values[torch.arange(len(index)), index]


def _squared_error(output: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    return ((output - wanted) ** 2).sum(dim=-1)  # (B,)


def reinforce_surrogate(
    scores: torch.Tensor,
    values: torch.Tensor,
    wanted: torch.Tensor,
    baseline: float | torch.Tensor = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one item per example and build the score-function surrogate.

    Returns ``(surrogate, loss)``, both ``(B,)``: ``loss`` is the squared error
    of the sampled value; ``surrogate = (loss - baseline).detach() * log alpha_I``
    has, in expectation over ``I``, the gradient of the expected loss.
    ``scores (B, n)`` and ``values (B, n, d_v)`` as for :func:`soft_attention`,
    ``wanted (B, d_v)``; ``baseline`` a finite number or a tensor ``()`` or ``(B,)``.
    """
    _check_items(scores, values, wanted, baseline)
    log_alpha = scores.log_softmax(dim=-1)  # (B, n)
    index = torch.multinomial(log_alpha.exp().detach(), 1).squeeze(1)  # (B,)
    rows = torch.arange(len(index))
    loss = _squared_error(values[rows, index], wanted)  # (B,)
    surrogate = (loss - baseline).detach() * log_alpha[rows, index]
    return surrogate, loss


def gradient_samples(
    scorer: BilinearScore, task: SelectionTask, method: str, baseline: float = 0.0
) -> torch.Tensor:
    """One gradient of ``W`` per example, flattened: ``(B, d*d)``.

    ``method`` is ``"soft"`` (gradient of the soft loss), ``"reinforce"`` (one
    score-function sample of the gradient of the expected hard loss), or
    ``"expected"`` (that gradient computed exactly, by summing over all items).
    """
    check_instance("scorer", scorer, BilinearScore)
    check_instance("task", task, SelectionTask)
    check_choice("method", method, ("soft", "reinforce", "expected"))
    grads = []
    for b in range(len(task.target)):
        q, k, v = (
            task.queries[b : b + 1],
            task.keys[b : b + 1],
            task.values[b : b + 1],
        )
        wanted = task.wanted[b : b + 1]
        scores = item_scores(scorer, q, k)
        if method == "soft":
            objective = _squared_error(soft_attention(scores, v), wanted).sum()
        elif method == "reinforce":
            objective = reinforce_surrogate(scores, v, wanted, baseline)[0].sum()
        else:  # "expected"
            # (1, n): loss if item i were chosen
            per_item = _squared_error(v, wanted.unsqueeze(1))
            objective = (scores.softmax(-1) * per_item).sum()
        (g,) = torch.autograd.grad(objective, scorer.W)
        grads.append(g.flatten())
    return torch.stack(grads)


@dataclass
class TrainingCurve:
    """What :func:`train_selector` records at each evaluation step."""

    steps: list[int] = field(default_factory=list)
    # argmax picks the target, held-out batch
    accuracy: list[float] = field(default_factory=list)
    # squared error of the argmax value, held out
    hard_loss: list[float] = field(default_factory=list)


def train_selector(
    method: str,
    steps: int = 300,
    batch: int = 64,
    lr: float = 0.005,
    seed: int = 0,
    eval_every: int = 10,
    n_items: int = 8,
    dim: int = 8,
) -> TrainingCurve:
    """Train a bilinear selector with ``"soft"`` attention or ``"reinforce"`` (hard attention).

    Both use Adam with the same learning rate, batches and evaluation set; the
    REINFORCE learner subtracts a running-mean baseline. Evaluation always uses
    *hard* (argmax) selection, so both are judged on the same test. Each update
    is :func:`attnbook.train.optimizer_step`, the step of the book's training loop.
    """
    if method not in ("soft", "reinforce"):
        raise ValueError(f"method must be 'soft' or 'reinforce', got {method!r}")
    check_int("steps", steps, low=0)
    for name, value in (
        ("batch", batch),
        ("eval_every", eval_every),
        ("n_items", n_items),
        ("dim", dim),
    ):
        check_int(name, value)
    check_int("seed", seed, low=0)
    check_float("lr", lr)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # torch.multinomial draws from the global generator
    test = make_selection_task(
        1000, n_items, dim, generator=torch.Generator().manual_seed(10_000)
    )
    scorer = uniform_scorer(dim)
    opt = torch.optim.Adam(scorer.parameters(), lr=lr)
    baseline = torch.tensor(0.0)
    curve = TrainingCurve()
    for step in range(steps + 1):
        if step % eval_every == 0:
            with torch.no_grad():
                s = item_scores(scorer, test.queries, test.keys)
                curve.steps.append(step)
                curve.accuracy.append(
                    (s.argmax(-1) == test.target).float().mean().item()
                )
                curve.hard_loss.append(
                    _squared_error(hard_attention(s, test.values), test.wanted)
                    .mean()
                    .item()
                )
        if step == steps:
            break
        task = make_selection_task(batch, n_items, dim, generator=gen)
        scores = item_scores(scorer, task.queries, task.keys)
        if method == "soft":
            objective = _squared_error(
                soft_attention(scores, task.values), task.wanted
            ).mean()
        else:
            surrogate, loss = reinforce_surrogate(
                scores, task.values, task.wanted, baseline
            )
            objective = surrogate.mean()
            baseline = 0.9 * baseline + 0.1 * loss.mean().detach()
        optimizer_step(opt, objective)
    return curve
