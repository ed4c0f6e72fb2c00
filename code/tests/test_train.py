"""The book's training loop and its padding-aware loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbook.train import History, masked_cross_entropy, train


def test_masked_cross_entropy_ignores_padding_and_matches_torch() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=g)
    targets = torch.randint(1, 7, (3, 5), generator=g)
    targets[0, 3:] = 0
    targets[2, 1:] = 0
    loss = masked_cross_entropy(logits, targets, pad_index=0)
    torch.testing.assert_close(
        loss,
        nn.functional.cross_entropy(
            logits.reshape(-1, 7), targets.reshape(-1), ignore_index=0
        ),
    )
    scrambled = logits.clone()
    scrambled[targets == 0] = (
        torch.randn(int((targets == 0).sum()), 7, generator=g) * 100
    )  # padded logits do not matter
    torch.testing.assert_close(
        masked_cross_entropy(scrambled, targets, pad_index=0), loss
    )
    assert not torch.allclose(
        masked_cross_entropy(logits, targets), loss
    )  # without a pad index every position counts


def test_all_padding_gives_zero_not_nan() -> None:
    loss = masked_cross_entropy(
        torch.randn(2, 3, 4, requires_grad=True),
        torch.zeros(2, 3, dtype=torch.long),
        pad_index=0,
    )
    assert loss.item() == 0.0
    loss.backward()


@pytest.mark.parametrize(
    ("logits", "targets", "error", "message"),
    [
        (
            torch.randn(2, 3, 4),
            torch.zeros(2, 4, dtype=torch.long),
            ValueError,
            r"must agree: got logits \(2, 3, 4\), targets \(2, 4\)",
        ),
        (
            torch.randn(4),
            torch.zeros((), dtype=torch.long),
            ValueError,
            "must agree",
        ),
        (torch.randn(2, 4), torch.zeros(2), TypeError, "targets must be int64"),
    ],
)
def test_masked_cross_entropy_bad_input(logits, targets, error, message) -> None:
    with pytest.raises(error, match=message):
        masked_cross_entropy(logits, targets)


def classifier_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def fit(seed: int, **kw: object) -> tuple[nn.Module, History]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    history = train(
        model,
        classifier_data(),
        lambda m, b: (m(b[0]), b[1]),
        epochs=5,
        batch_size=32,
        lr=0.05,
        seed=seed,
        live=False,
        **kw,
    )
    return model, history


def test_train_is_seeded_learns_and_validates_every_epoch() -> None:
    a, ha = fit(seed=1, validate=lambda m: 0.5)
    b, hb = fit(seed=1, validate=lambda m: 0.5)
    _, hc = fit(seed=2)
    assert ha.batch_loss == hb.batch_loss and ha.batch_loss != hc.batch_loss
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert (
        len(ha.batch_loss) == 5 * 7
        and len(ha.epoch_loss) == 5
        and ha.valid == [0.5] * 5
        and hc.valid == []
    )
    assert ha.epoch_accuracy[-1] > 0.9 and ha.epoch_loss[-1] < ha.epoch_loss[0]
    assert ha.seconds > 0 and not a.training  # left in eval mode


def test_validate_runs_in_eval_mode() -> None:
    modes = []
    fit(seed=0, validate=lambda m: modes.append(m.training) or 0.0)
    assert modes == [False] * 5


def test_gradient_is_clipped_before_the_step(monkeypatch) -> None:
    seen = []
    original = nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        nn.utils,
        "clip_grad_norm_",
        lambda params, norm: seen.append(norm) or original(params, norm),
    )
    fit(seed=0, clip_norm=0.25)
    assert seen == [0.25] * 35


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"data": []}, TypeError, "non-empty sequence of tensors"),
        (
            {"data": [torch.zeros(3, 1), torch.zeros(4)]},
            ValueError,
            "share a non-zero first dimension",
        ),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr"),
    ],
)
def test_train_bad_arguments(kw: dict, error: type, message: str) -> None:
    args = {
        "data": list(classifier_data()),
        "epochs": 1,
        "batch_size": 8,
        "lr": 0.1,
    } | kw
    with pytest.raises(error, match=message):
        train(
            nn.Linear(4, 2),
            args.pop("data"),
            lambda m, b: (m(b[0]), b[1]),
            live=False,
            **args,
        )


def test_label_smoothing_matches_torch_on_the_unpadded_targets() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 4, 7), torch.randint(1, 7, (3, 4))
    targets[0, 2:] = 0  # padding
    keep = targets != 0
    expected = torch.nn.functional.cross_entropy(
        logits[keep], targets[keep], label_smoothing=0.1
    )
    torch.testing.assert_close(
        masked_cross_entropy(logits, targets, 0, label_smoothing=0.1), expected
    )
    with pytest.raises(
        ValueError, match=r"label_smoothing must lie in \[0, 1\), got 1.0"
    ):
        masked_cross_entropy(logits, targets, 0, label_smoothing=1.0)
