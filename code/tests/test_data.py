"""Seeded toy data of chapter 1."""

from __future__ import annotations

import pytest
import torch

from attnbook.data import COLOURS, make_scene, make_selection_task


def test_scene_is_seeded_and_holds_one_object_per_colour() -> None:
    a, b, c = make_scene(seed=0), make_scene(seed=0), make_scene(seed=1)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    assert (
        a.image.shape == (12, 12, 3) and 0 <= a.image.min() and a.image.max() <= 1
    )
    assert set(a.objects) == set(COLOURS)
    cells = {
        (r + i, col + j)
        for r, col in a.objects.values()
        for i in range(2)
        for j in range(2)
    }
    assert len(cells) == 4 * len(COLOURS)  # objects never overlap
    r, col = a.objects["red"]
    torch.testing.assert_close(a.image[r, col], torch.tensor(COLOURS["red"]))


def test_red_is_the_salient_object() -> None:
    scene = make_scene(seed=0)
    keys = scene.keys
    saliency = ((keys - keys.mean(0)) ** 2).sum(-1).reshape(12, 12)
    r, c = scene.objects["red"]
    top4 = set(
        map(
            tuple,
            torch.nonzero(
                saliency >= saliency.flatten().topk(4).values[-1]
            ).tolist(),
        )
    )
    assert top4 == {(r + i, c + j) for i in range(2) for j in range(2)}


def test_scene_rejects_a_grid_too_small() -> None:
    with pytest.raises(
        ValueError, match="size must be at least 6 for objects of size 2, got 5"
    ):
        make_scene(size=5)


def test_selection_task_query_is_closest_to_its_target_key() -> None:
    task = make_selection_task(500, generator=torch.Generator().manual_seed(0))
    assert (
        task.queries.shape == (500, 8)
        and task.keys.shape == (500, 8, 8)
        and task.values.shape == (500, 8, 4)
    )
    nearest = ((task.keys - task.queries[:, None]) ** 2).sum(-1).argmin(-1)
    assert (
        nearest == task.target
    ).float().mean() > 0.8  # the task is solvable, not trivial noise
    torch.testing.assert_close(
        task.wanted, task.values[torch.arange(500), task.target]
    )


@pytest.mark.parametrize(
    "kw", [{"batch": 0}, {"batch": 2, "n_items": -1}, {"batch": 2, "dim": 1.5}]
)
def test_selection_task_bad_sizes(kw: dict) -> None:
    with pytest.raises((TypeError, ValueError), match="batch|n_items|dim"):
        make_selection_task(**kw)


def test_scene_says_so_when_objects_do_not_fit() -> None:
    with pytest.raises(
        ValueError, match="could not place 4 objects of size 3 apart on a 8x8 grid"
    ):
        make_scene(size=8, object_size=3)
