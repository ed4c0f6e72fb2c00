"""Cluttered digits: a small image task that needs *where* as well as *what* (chapter 8).

:func:`make_cluttered_digits` places one handwritten digit from scikit-learn's
``load_digits`` (8 x 8 pixels, 1797 images, shipped inside scikit-learn: nothing
is downloaded) at a random position on a larger dark canvas and scatters
*fragments* of other digits around it, in the spirit of the "cluttered MNIST"
of Mnih et al. (2014). The label is the class of the one whole digit. A
convolutional network that pools globally sees the clutter's strokes as well
as the digit's, so it profits from knowing where the digit is.

The 1797 source images are split once, by a fixed permutation, into sources for
training and sources for testing: a test canvas never shows a digit image --
nor a fragment of one -- that any training canvas shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from attnbook._checks import check_float, check_int

__all__ = [
    "ClutteredDigits",
    "ClutteredSplit",
    "digit_sources",
    "make_cluttered_digits",
]

#: Fraction of the 1797 ``load_digits`` images reserved as sources for the training split.
TRAIN_SOURCE_FRACTION = 0.7


@dataclass(frozen=True)
class ClutteredSplit:
    """One split of the task.

    Attributes:
        images: ``(N, 1, H, W)`` float32 canvases with values in ``[0, 1]``.
        labels: ``(N,)`` int64 class of the whole digit, 0-9.
        boxes: ``(N, 4)`` int64 ``(top, left, height, width)`` of the whole digit.
        sources: ``(N,)`` int64 index of the digit's image in ``load_digits()``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    sources: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def digit_masks(self) -> torch.Tensor:
        """``(N, H, W)`` boolean: True inside each digit's box."""
        _n, _, h, w = self.images.shape
        rows, cols = torch.arange(h), torch.arange(w)
        top, left, height, width = self.boxes.unbind(-1)  # (N,) each
        # (N, H)
        in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
        # (N, W)
        in_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
        return in_rows[:, :, None] & in_cols[:, None, :]


@dataclass(frozen=True)
class ClutteredDigits:
    """Training and test splits drawn from disjoint source images, and how they were made."""

    train: ClutteredSplit
    test: ClutteredSplit
    canvas: int
    digit_size: int
    n_clutter: int
    fragment: int


def digit_sources(
    digit_size: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``load_digits`` images resized to ``digit_size`` pixels, and the train/test source split.

    Returns:
        ``images (1797, digit_size, digit_size)`` float32 in ``[0, 1]``, ``labels (1797,)``,
        and ``is_train (1797,)`` boolean (a fixed split, independent of any seed).
    """
    # ships the data; imported here so the package imports fast
    from sklearn.datasets import load_digits

    check_int("digit_size", digit_size, low=2)
    digits = load_digits()
    # (1797, 8, 8), ink in [0, 1]
    small = torch.as_tensor(digits.images, dtype=torch.float32) / 16.0
    images = F.interpolate(
        small[:, None],
        size=(digit_size, digit_size),
        mode="bilinear",
        align_corners=False,
    )[:, 0]
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = np.random.default_rng(12345).permutation(len(labels))
    is_train = torch.zeros(len(labels), dtype=torch.bool)
    is_train[torch.as_tensor(order[: int(TRAIN_SOURCE_FRACTION * len(labels))])] = (
        True
    )
    return images.clamp(0.0, 1.0), labels, is_train


def _crops(
    images: np.ndarray,
    index: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    size: int,
) -> np.ndarray:
    """``images[index[j], top[j]:top[j]+size, left[j]:left[j]+size]`` for every j at once, ``(..., size, size)``."""
    offsets = np.arange(size)
    rows = top[..., None, None] + offsets[:, None]  # (..., size, 1)
    cols = left[..., None, None] + offsets[None, :]  # (..., 1, size)
    return images[index[..., None, None], rows, cols]


def _render(
    n: int,
    pool: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    canvas: int,
    n_clutter: int,
    fragment: int,
    noise: float,
    rng: np.random.Generator,
) -> ClutteredSplit:
    """Draw ``n`` canvases whose digits and fragments all come from the source indices ``pool``."""
    size = images.shape[-1]
    chosen = rng.choice(pool, size=n)
    # (n, 2) top, left of the digit
    corner = rng.integers(0, canvas - size + 1, size=(n, 2))
    out = np.zeros((n, canvas, canvas), dtype=np.float32)
    if n_clutter:
        # Propose many fragments per canvas, keep the first n_clutter that have ink and stay off the digit.
        m = 20 * n_clutter
        other = rng.choice(pool, size=(n, m))
        crop = rng.integers(0, size - fragment + 1, size=(n, m, 2))
        where = rng.integers(0, canvas - fragment + 1, size=(n, m, 2))
        # (n, m, f, f)
        pieces = _crops(images, other, crop[..., 0], crop[..., 1], fragment)
        inky = pieces.sum((-1, -2)) >= 0.15 * fragment * fragment
        # the fragment must not overlap the digit's box grown by one pixel
        lo, hi = corner[:, None, :] - 1, corner[:, None, :] + size + 1  # (n, 1, 2)
        apart = ((where + fragment <= lo) | (where >= hi)).any(-1)  # (n, m)
        ok = inky & apart
        if (ok.sum(1) < n_clutter).any():
            raise ValueError(
                f"could not place {n_clutter} fragments on a {canvas}x{canvas} canvas; use a larger canvas"
            )
        rank = np.cumsum(ok, axis=1) - 1  # position among the accepted proposals
        rows = np.arange(n)
        for k in range(n_clutter):
            # (n,) the k-th accepted proposal
            j = np.argmax(ok & (rank == k), axis=1)
            y, x = where[rows, j, 0], where[rows, j, 1]
            ys = y[:, None, None] + np.arange(fragment)[:, None]
            xs = x[:, None, None] + np.arange(fragment)[None, :]
            region = out[rows[:, None, None], ys, xs]
            out[rows[:, None, None], ys, xs] = np.maximum(region, pieces[rows, j])
    ys = corner[:, 0, None, None] + np.arange(size)[:, None]
    xs = corner[:, 1, None, None] + np.arange(size)[None, :]
    out[np.arange(n)[:, None, None], ys, xs] = images[chosen]
    if noise > 0:
        out = out + noise * rng.standard_normal(out.shape, dtype=np.float32)
    boxes = np.concatenate([corner, np.full((n, 2), size)], axis=1)
    return ClutteredSplit(
        images=torch.from_numpy(np.clip(out, 0.0, 1.0))[
            :, None
        ].contiguous(),  # (N, 1, H, W)
        labels=torch.from_numpy(labels[chosen]).long(),
        boxes=torch.from_numpy(boxes).long(),
        sources=torch.from_numpy(chosen).long(),
    )


def make_cluttered_digits(
    n_train: int = 5000,
    n_test: int = 2000,
    *,
    canvas: int = 24,
    digit_size: int = 10,
    n_clutter: int = 6,
    fragment: int = 5,
    noise: float = 0.05,
    seed: int = 0,
) -> ClutteredDigits:
    """Build the cluttered-digits task: one whole digit and ``n_clutter`` fragments per canvas.

    Args:
        n_train, n_test: number of canvases per split.
        canvas: side of the square canvas in pixels.
        digit_size: side of the whole digit in pixels (the 8 x 8 originals are
            resized bilinearly).
        n_clutter: fragments of *other* digits per canvas; each is a
            ``fragment x fragment`` crop with some ink in it, placed anywhere
            except on (or touching) the whole digit's box.
        fragment: side of a fragment; smaller than the digit, so a fragment never
            shows a whole digit.
        noise: standard deviation of Gaussian pixel noise added at the end
            (values are clipped to ``[0, 1]``).
        seed: seeds positions, choices and noise. The split of the *source*
            images into train and test is fixed and does not depend on it.

    Returns:
        :class:`ClutteredDigits` with ``train`` and ``test`` :class:`ClutteredSplit`.

    Raises:
        ValueError: sizes that do not fit (canvas smaller than a digit, fragment
            not smaller than a digit), or negative counts.
    """
    for what, value in (
        ("n_train", n_train),
        ("n_test", n_test),
        ("n_clutter", n_clutter),
        ("seed", seed),
    ):
        check_int(what, value, low=0)
    images, labels, is_train = digit_sources(digit_size)
    size = images.shape[-1]
    check_int("canvas", canvas, low=size)
    if (
        not isinstance(fragment, int)
        or isinstance(fragment, bool)
        or not 1 <= fragment < size
    ):
        raise ValueError(
            f"fragment must be an int in [1, {size - 1}] (smaller than a digit), got {fragment!r}"
        )
    check_float("noise", noise, inclusive=True)
    train_pool = np.flatnonzero(is_train.numpy())
    test_pool = np.flatnonzero(~is_train.numpy())
    common = {
        "images": images.numpy(),
        "labels": labels.numpy(),
        "canvas": canvas,
        "n_clutter": n_clutter,
        "fragment": fragment,
        "noise": noise,
    }
    return ClutteredDigits(
        # one generator per split: the test set does not change when n_train does
        train=_render(
            n_train, train_pool, rng=np.random.default_rng([seed, 0]), **common
        ),
        test=_render(
            n_test, test_pool, rng=np.random.default_rng([seed, 1]), **common
        ),
        canvas=canvas,
        digit_size=size,
        n_clutter=n_clutter,
        fragment=fragment,
    )
