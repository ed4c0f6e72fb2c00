"""The cluttered-digits task of chapter 8."""

from __future__ import annotations

import pytest
import torch

from attnbook.data import digit_sources, make_cluttered_digits


@pytest.fixture(scope="module")
def clean():
    return make_cluttered_digits(300, 200, noise=0.0, seed=3)


def test_is_seeded_and_the_test_split_does_not_depend_on_n_train() -> None:
    a, b = (
        make_cluttered_digits(50, 40, seed=1),
        make_cluttered_digits(50, 40, seed=1),
    )
    assert torch.equal(a.train.images, b.train.images) and torch.equal(
        a.test.labels, b.test.labels
    )
    assert not torch.equal(
        a.train.images, make_cluttered_digits(50, 40, seed=2).train.images
    )
    assert torch.equal(
        make_cluttered_digits(10, 40, seed=1).test.images, a.test.images
    )


def test_shapes_ranges_and_labels(clean) -> None:
    _images, labels, _ = digit_sources(clean.digit_size)
    for split, n in ((clean.train, 300), (clean.test, 200)):
        assert (
            split.images.shape == (n, 1, 24, 24)
            and split.images.dtype == torch.float32
        )
        assert 0 <= split.images.min() and split.images.max() <= 1
        assert torch.equal(split.labels, labels[split.sources])
        assert set(split.labels.tolist()) == set(range(10))


def test_the_whole_digit_sits_in_its_box_and_clutter_stays_one_pixel_away(
    clean,
) -> None:
    images, _, _ = digit_sources(clean.digit_size)
    split = clean.train
    masks = split.digit_masks()
    for i in range(len(split)):
        top, left, h, w = split.boxes[i].tolist()
        assert 0 <= top <= 24 - h and 0 <= left <= 24 - w
        torch.testing.assert_close(
            split.images[i, 0, top : top + h, left : left + w],
            images[split.sources[i]],
        )
        ring = torch.zeros(24, 24, dtype=torch.bool)
        ring[max(0, top - 1) : top + h + 1, max(0, left - 1) : left + w + 1] = True
        ring &= ~masks[i]
        assert (
            split.images[i, 0][ring].abs().max() == 0
        )  # no fragment touches the digit
    outside = split.images[:, 0][~masks]
    assert (
        outside.sum() > 0.05 * outside.numel()
    )  # ... but there is clutter elsewhere


def test_train_and_test_draw_on_disjoint_source_images(clean) -> None:
    _, _, is_train = digit_sources(clean.digit_size)
    assert (
        is_train[clean.train.sources].all()
        and not is_train[clean.test.sources].any()
    )
    assert 0.65 < is_train.float().mean() < 0.75


def test_bad_sizes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="fragment"):
        make_cluttered_digits(5, 5, fragment=10)
    with pytest.raises(ValueError, match="canvas"):
        make_cluttered_digits(5, 5, canvas=8)
    with pytest.raises(ValueError, match="n_train"):
        make_cluttered_digits(-1, 5)
    with pytest.raises(ValueError, match="could not place 40 fragments"):
        make_cluttered_digits(50, 5, canvas=12, n_clutter=40)
