"""Soft vs hard attention and the score-function estimator (chapter 1)."""

from __future__ import annotations

import pytest
import torch

from attnbook.data import make_selection_task
from attnbook.hard_attention import (
    gradient_samples,
    hard_attention,
    item_scores,
    reinforce_surrogate,
    soft_attention,
    train_selector,
    uniform_scorer,
)


@pytest.fixture
def task():
    return make_selection_task(32, generator=torch.Generator().manual_seed(0))


def test_soft_attention_is_the_expected_value(task) -> None:
    scores = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    expected = torch.stack(
        [
            sum(w * v for w, v in zip(scores[b].softmax(0), task.values[b]))
            for b in range(32)
        ]
    )
    torch.testing.assert_close(soft_attention(scores, task.values), expected)


def test_hard_attention_returns_the_argmax_value_and_no_gradient(task) -> None:
    scores = torch.randn(32, 8, requires_grad=True)
    out = hard_attention(scores, task.values)
    torch.testing.assert_close(
        out, task.values[torch.arange(32), scores.argmax(-1)]
    )
    assert not out.requires_grad  # nothing to backpropagate through
    assert soft_attention(scores, task.values).requires_grad


def test_uniform_scorer_starts_with_equal_weights_and_scores_one_query_per_example(
    task,
) -> None:
    scorer = uniform_scorer(8)
    scores = item_scores(scorer, task.queries, task.keys)
    assert scores.shape == (32, 8) and torch.all(scores == 0)
    with torch.no_grad():
        scorer.W.copy_(torch.eye(8))
    expected = torch.einsum("bd,bnd->bn", task.queries, task.keys)  # q . k_i
    torch.testing.assert_close(
        item_scores(scorer, task.queries, task.keys), expected
    )


def test_reinforce_is_unbiased_and_noisier_than_soft() -> None:
    torch.manual_seed(0)
    probe = make_selection_task(3000, generator=torch.Generator().manual_seed(3))
    scorer = uniform_scorer(8)
    exact = gradient_samples(scorer, probe, "expected").mean(0)
    samples = gradient_samples(scorer, probe, "reinforce", baseline=7.0)
    cosine = torch.nn.functional.cosine_similarity(samples.mean(0), exact, dim=0)
    assert cosine > 0.95, (
        f"REINFORCE mean does not point along the exact gradient (cosine {cosine:.3f})"
    )
    soft = gradient_samples(scorer, probe, "soft")
    rel = lambda g: g.var(0).sum() / g.mean(0).norm() ** 2
    assert rel(samples) > 3 * rel(soft)


def test_surrogate_draws_items_with_probability_alpha() -> None:
    torch.manual_seed(0)
    n = 20000
    scores = torch.tensor([[2.0, 0.0, -1.0, 1.0]]).expand(n, 4)
    values = torch.eye(4).expand(
        n, 4, 4
    )  # value i is one-hot(i): the loss tells which item was drawn
    _, loss = reinforce_surrogate(scores, values, torch.zeros(n, 4))
    assert torch.all(loss == 1.0)
    surrogate, _ = reinforce_surrogate(
        scores.clone().requires_grad_(), values, values[:, 0], baseline=0.0
    )
    # loss is 0 when item 0 is drawn and 2 otherwise, so the mean loss estimates 2 * (1 - alpha_0)
    _, loss0 = reinforce_surrogate(scores, values, values[:, 0])
    alpha0 = scores[0].softmax(0)[0]
    assert abs(loss0.mean() / 2 - (1 - alpha0)) < 0.01
    assert surrogate.requires_grad


@pytest.mark.parametrize("method", ["soft", "reinforce"])
def test_both_learners_learn_the_selection_task(method: str) -> None:
    curve = train_selector(method, steps=200, seed=0)
    assert curve.accuracy[0] < 0.2  # uniform attention: about chance (1/8)
    assert curve.accuracy[-1] > 0.8
    assert curve.hard_loss[-1] < curve.hard_loss[0]


def test_training_is_seeded() -> None:
    a = train_selector("reinforce", steps=30, seed=4)
    b = train_selector("reinforce", steps=30, seed=4)
    assert a.accuracy == b.accuracy


def test_bad_input() -> None:
    scorer = uniform_scorer(8)
    with pytest.raises(
        ValueError,
        match=r"queries must have shape \(B, d\), one query per example, got \(2, 1, 8\)",
    ):
        item_scores(scorer, torch.zeros(2, 1, 8), torch.zeros(2, 4, 8))
    with pytest.raises(ValueError, match="share the batch size"):
        item_scores(scorer, torch.zeros(2, 8), torch.zeros(3, 4, 8))
    with pytest.raises(ValueError, match="queries must have shape"):
        item_scores(scorer, torch.zeros(2, 5), torch.zeros(2, 4, 8))
    with pytest.raises(
        ValueError, match="method must be 'soft' or 'reinforce', got 'hard'"
    ):
        train_selector("hard")
    with pytest.raises(ValueError, match="method must be"):
        gradient_samples(scorer, make_selection_task(2), "nope")
    with pytest.raises(TypeError, match="queries must be a torch.Tensor"):
        item_scores(scorer, None, torch.zeros(2, 4, 8))
    with pytest.raises(
        TypeError, match="scorer must be a BilinearScore, got NoneType"
    ):
        gradient_samples(None, make_selection_task(2), "soft")
    with pytest.raises(TypeError, match="task must be a SelectionTask, got tuple"):
        gradient_samples(scorer, (), "soft")
