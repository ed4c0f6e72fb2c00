"""Small seeded toy problems for chapter 1 (nothing is downloaded).

* :func:`make_scene` -- a grid "scene" of coloured objects on a grey, slightly
  noisy background: every cell is a key (its colour), so a colour query says
  *what* to look for (a volitional cue) while colour contrast alone says what
  stands out (a non-volitional cue).
* :func:`make_selection_task` -- "find the item that matches the query": the
  toy on which soft and hard attention are trained side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnbook._checks import check_float, check_int

__all__ = ["COLOURS", "Scene", "SelectionTask", "make_scene", "make_selection_task"]

#: Named RGB colours used for the scene's objects and for the colour queries.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.15, 0.15),
    "blue": (0.15, 0.35, 0.85),
    "green": (0.15, 0.65, 0.25),
    "yellow": (0.95, 0.85, 0.15),
}


@dataclass(frozen=True)
class Scene:
    """A ``size x size`` RGB image and the colour of each object in it."""

    image: torch.Tensor  # (H, W, 3), values in [0, 1]
    # colour name -> (row, col) of the object's top-left cell
    objects: dict[str, tuple[int, int]]

    @property
    def keys(self) -> torch.Tensor:
        """One key per cell: its colour, shape ``(H * W, 3)`` in row-major order."""
        return self.image.reshape(-1, 3)


def make_scene(size: int = 12, object_size: int = 2, seed: int = 0) -> Scene:
    """Grey noisy background with one ``object_size``-square object per colour in :data:`COLOURS`.

    The red object is the odd one out: it is the only saturated warm colour, so
    it is the most *salient* cell group when no query is given.
    """
    if size < 2 * object_size + 2:
        raise ValueError(
            f"size must be at least {2 * object_size + 2} for objects of size {object_size}, got {size}"
        )
    g = torch.Generator().manual_seed(seed)
    image = 0.55 + 0.04 * torch.randn(size, size, 1, generator=g).expand(
        size, size, 3
    )
    image = image + 0.02 * torch.randn(size, size, 3, generator=g)
    taken = torch.zeros(size, size, dtype=torch.bool)
    objects: dict[str, tuple[int, int]] = {}
    for name, rgb in COLOURS.items():
        for _ in range(
            1000
        ):  # rejection-sample a free spot, one empty cell away from the others
            r, c = (
                int(x)
                for x in torch.randint(0, size - object_size + 1, (2,), generator=g)
            )
            if not taken[
                max(0, r - 1) : r + object_size + 1,
                max(0, c - 1) : c + object_size + 1,
            ].any():
                break
        else:
            raise ValueError(
                f"could not place {len(COLOURS)} objects of size {object_size} apart on a {size}x{size} grid"
            )
        taken[r : r + object_size, c : c + object_size] = True
        image[r : r + object_size, c : c + object_size] = torch.tensor(rgb)
        objects[name] = (r, c)
    # Shrink the three non-red objects' saturation so that red is the salient one.
    for name in ("blue", "green", "yellow"):
        r, c = objects[name]
        patch = image[r : r + object_size, c : c + object_size]
        image[r : r + object_size, c : c + object_size] = 0.55 + 0.45 * (
            patch - 0.55
        )
    return Scene(image=image.clamp(0.0, 1.0), objects=objects)


@dataclass(frozen=True)
class SelectionTask:
    """A batch of "which item matches the query?" problems.

    Shapes: ``queries (B, d)``, ``keys (B, n, d)``, ``values (B, n, d_v)``,
    ``target (B,)`` -- the index of the matching item -- and ``wanted (B, d_v)``,
    the value a perfect selector returns (``values[b, target[b]]``).
    """

    queries: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    target: torch.Tensor

    @property
    def wanted(self) -> torch.Tensor:
        return self.values[torch.arange(len(self.target)), self.target]


def make_selection_task(
    batch: int,
    n_items: int = 8,
    dim: int = 8,
    value_dim: int = 4,
    noise: float = 0.5,
    generator: torch.Generator | None = None,
) -> SelectionTask:
    """Random keys and values; the query is a noisy copy of one key (the target).

    A selector has to learn that "similar to the query" is what matters; with a
    bilinear score ``q^T W k`` the ideal ``W`` is a multiple of the identity.
    """
    for name, v in (
        ("batch", batch),
        ("n_items", n_items),
        ("dim", dim),
        ("value_dim", value_dim),
    ):
        check_int(name, v)
    check_float("noise", noise, inclusive=True)
    keys = torch.randn(batch, n_items, dim, generator=generator)
    values = torch.randn(batch, n_items, value_dim, generator=generator)
    target = torch.randint(0, n_items, (batch,), generator=generator)
    queries = keys[torch.arange(batch), target] + noise * torch.randn(
        batch, dim, generator=generator
    )
    return SelectionTask(queries=queries, keys=keys, values=values, target=target)
