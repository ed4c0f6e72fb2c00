"""A seeded one-dimensional regression problem for chapter 2 (nothing is downloaded).

The training inputs are drawn uniformly on ``[0, 5]`` and sorted, the targets are
a smooth curve plus Gaussian noise,

    y = 2 sin(x) + x^0.8 + eps,    eps ~ N(0, noise^2),

and the test set is an evenly spaced grid on the same interval with the
*noise-free* curve as its target, so that a test error measures how far an
estimate is from the function itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnbook._checks import check_float, check_int

__all__ = ["RegressionData", "make_regression", "regression_truth"]


def regression_truth(x: torch.Tensor) -> torch.Tensor:
    """The noise-free curve ``2 sin(x) + x^0.8`` (for ``x >= 0``), same shape as ``x``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    return 2 * torch.sin(x) + x**0.8


@dataclass(frozen=True)
class RegressionData:
    """Training pairs and a test grid; all tensors are 1-D.

    Shapes: ``x_train, y_train (n_train,)`` with ``x_train`` sorted ascending;
    ``x_test, y_test (n_test,)`` where ``y_test`` is the noise-free curve.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_regression(
    n_train: int = 50,
    n_test: int = 51,
    noise: float = 0.5,
    high: float = 5.0,
    seed: int = 0,
) -> RegressionData:
    """Sorted uniform inputs on ``[0, high]``, noisy targets, and a noise-free test grid.

    Args:
        n_train: number of training pairs.
        n_test: number of evenly spaced test points, endpoints included
            (the default 51 gives the grid 0, 0.1, ..., 5).
        noise: standard deviation of the Gaussian noise on the training targets.
        high: right end of the input interval (the left end is 0).
        seed: seed of the private generator; the same seed gives the same data.
    """
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        check_int(name, n)
    check_float("noise", noise, inclusive=True)
    check_float("high", high)
    g = torch.Generator().manual_seed(seed)
    x_train, _ = torch.sort(high * torch.rand(n_train, generator=g))
    y_train = regression_truth(x_train) + noise * torch.randn(n_train, generator=g)
    x_test = torch.linspace(0.0, high, n_test)
    return RegressionData(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=regression_truth(x_test),
    )
