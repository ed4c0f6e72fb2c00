"""Nadaraya--Watson kernel regression (chapter 2): kernels, pooling, leave-one-out, the learned width."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnbook.data import make_regression, regression_truth
from attnbook.kernels import (
    KERNELS,
    ParametricNadarayaWatson,
    boxcar,
    constant,
    epanechnikov,
    gaussian,
    nadaraya_watson,
    nadaraya_watson_grid,
    train_width,
)

CLOSED_FORMS = {
    "gaussian": lambda u: math.exp(-u * u / 2),
    "boxcar": lambda u: 1.0 if abs(u) <= 1 else 0.0,
    "constant": lambda u: 1.0,
    "epanechnikov": lambda u: max(0.0, 1 - u * u),
}


def _loop_nadaraya_watson(q, k, v, kernel, h, leave_one_out=False):
    """The estimator written out query by query, key by key, from its definition."""
    preds, rows = [], []
    for j in range(len(q)):
        w = [
            0.0
            if (leave_one_out and i == j)
            else CLOSED_FORMS[kernel]((q[j] - k[i]) / h)
            for i in range(len(k))
        ]
        total = sum(w)
        rows.append([x / total for x in w])
        preds.append(sum(x * y for x, y in zip(w, v)) / total)
    return torch.tensor(preds, dtype=torch.float64), torch.tensor(
        rows, dtype=torch.float64
    )


# --------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("name", list(KERNELS))
def test_each_kernel_matches_its_closed_form(name: str) -> None:
    d = torch.linspace(-3, 3, 60, dtype=torch.float64).reshape(3, 4, 5)  # any shape
    h = 0.7
    got = KERNELS[name](d, h)
    want = torch.tensor(
        [CLOSED_FORMS[name](x / h) for x in d.flatten().tolist()],
        dtype=torch.float64,
    )
    assert got.shape == d.shape and got.dtype == d.dtype
    torch.testing.assert_close(got.flatten(), want, rtol=0, atol=1e-12)


def test_kernels_have_the_expected_support() -> None:
    d = torch.tensor([0.0, 0.99, 1.0, 1.01, 5.0])
    assert boxcar(d, 1.0).tolist() == [1, 1, 1, 0, 0]
    assert (
        epanechnikov(d, 1.0)[3:].tolist() == [0, 0] and epanechnikov(d, 1.0)[0] == 1
    )
    assert (gaussian(d, 1.0) > 0).all() and gaussian(d, 1.0)[0] == 1
    assert constant(d, 1.0).tolist() == [1.0] * 5


# --------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("leave_one_out", [False, True])
def test_nadaraya_watson_equals_an_explicit_loop(
    name: str, leave_one_out: bool
) -> None:
    data = make_regression(n_train=30, seed=3)
    x, y = data.x_train.double(), data.y_train.double()
    queries = x if leave_one_out else data.x_test.double()
    h = 0.9
    preds, weights = nadaraya_watson(
        queries, x, y, name, h, leave_one_out=leave_one_out
    )
    want_preds, want_weights = _loop_nadaraya_watson(
        queries.tolist(), x.tolist(), y.tolist(), name, h, leave_one_out
    )
    torch.testing.assert_close(preds, want_preds, rtol=0, atol=1e-6)
    torch.testing.assert_close(weights, want_weights, rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    n_q=st.integers(1, 12),
    n_k=st.integers(1, 12),
    name=st.sampled_from(["gaussian", "constant"]),
    log_h=st.floats(-4, 3),
    seed=st.integers(0, 10_000),
)
def test_weights_are_a_distribution_for_every_query(
    n_q: int, n_k: int, name: str, log_h: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    q, k = 10 * torch.rand(n_q, generator=g), 10 * torch.rand(n_k, generator=g)
    v = torch.randn(n_k, 3, generator=g)
    preds, w = nadaraya_watson(q, k, v, name, math.exp(log_h))
    assert w.shape == (n_q, n_k) and preds.shape == (n_q, 3)
    assert bool((w >= 0).all()) and bool(torch.isfinite(w).all())
    torch.testing.assert_close(w.sum(1), torch.ones(n_q))
    # a weighted average never leaves the range of the values
    assert bool(
        (preds <= v.max(0).values + 1e-5).all()
        and (preds >= v.min(0).values - 1e-5).all()
    )


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["boxcar", "epanechnikov"]),
    h=st.floats(0.3, 5.0),
    seed=st.integers(0, 10_000),
)
def test_compact_kernels_give_distributions_where_defined(
    name: str, h: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    k = torch.arange(
        0.0, 10.0, 0.25
    )  # keys every 0.25: every query below has one within h
    q = 10 * torch.rand(7, generator=g) - 0.1
    _, w = nadaraya_watson(q, k, torch.randn(len(k), generator=g), name, h)
    assert bool((w >= 0).all())
    torch.testing.assert_close(w.sum(1), torch.ones(7))
    assert bool(
        (w[(q[:, None] - k[None, :]).abs() > h] == 0).all()
    )  # nothing outside the support


def test_tiny_gaussian_bandwidth_returns_the_nearest_keys_value() -> None:
    k = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    v = torch.tensor([5.0, -1.0, 7.0, 2.0], dtype=torch.float64)
    q = torch.tensor([0.1, 0.6, 1.45, 2.9, 40.0], dtype=torch.float64)
    preds, w = nadaraya_watson(
        q, k, v, "gaussian", 1e-3
    )  # exp(-u^2/2) underflows here: softmax does not
    torch.testing.assert_close(
        preds, torch.tensor([5.0, -1.0, -1.0, 2.0, 2.0], dtype=torch.float64)
    )
    assert bool(torch.isfinite(w).all())


def test_huge_gaussian_bandwidth_is_average_pooling() -> None:
    data = make_regression(n_train=20, seed=1)
    preds, w = nadaraya_watson(
        data.x_test, data.x_train, data.y_train, "gaussian", 1e4
    )
    torch.testing.assert_close(preds, data.y_train.mean().expand_as(preds))
    torch.testing.assert_close(w, torch.full_like(w, 1 / 20))
    const, _ = nadaraya_watson(
        data.x_test, data.x_train, data.y_train, "constant", 0.1
    )
    torch.testing.assert_close(const, preds)


def test_gaussian_pooling_is_softmax_attention_with_temperature_two_h_squared() -> (
    None
):
    data = make_regression(n_train=25, seed=2)
    h = 0.4
    _, w = nadaraya_watson(data.x_test, data.x_train, data.y_train, "gaussian", h)
    scores = -((data.x_test[:, None] - data.x_train[None, :]) ** 2)
    torch.testing.assert_close(w, torch.softmax(scores / (2 * h * h), dim=1))


@pytest.mark.parametrize("name", list(KERNELS))
def test_leave_one_out_gives_each_query_zero_weight_on_its_own_key(
    name: str,
) -> None:
    data = make_regression(n_train=40, seed=4)
    x, y = data.x_train, data.y_train
    preds, w = nadaraya_watson(x, x, y, name, 1.5, leave_one_out=True)
    assert bool((torch.diagonal(w) == 0).all())
    torch.testing.assert_close(w.sum(1), torch.ones(40))
    # query 7 without its key is the ordinary estimator on the other 39 pairs
    keep = torch.arange(40) != 7
    alone, _ = nadaraya_watson(x[7:8], x[keep], y[keep], name, 1.5)
    torch.testing.assert_close(preds[7:8], alone)


def test_values_may_be_vectors() -> None:
    k = torch.tensor([0.0, 1.0, 2.0])
    v = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    preds, w = nadaraya_watson(torch.tensor([1.0, 0.2]), k, v, "epanechnikov", 1.5)
    torch.testing.assert_close(preds, w @ v)
    torch.testing.assert_close(
        preds[0], torch.tensor([2.0, 20.0])
    )  # symmetric neighbours average to the middle


def test_a_callable_kernel_is_accepted() -> None:
    def triangle(d: torch.Tensor, h: float) -> torch.Tensor:
        return torch.clamp(1 - d.abs() / h, min=0)

    preds, w = nadaraya_watson(
        torch.tensor([0.5]),
        torch.tensor([0.0, 1.0, 3.0]),
        torch.tensor([2.0, 4.0, 100.0]),
        triangle,
        1.0,
    )
    torch.testing.assert_close(w, torch.tensor([[0.5, 0.5, 0.0]]))
    torch.testing.assert_close(preds, torch.tensor([3.0]))


# --------------------------------------------------------------------------- zero total weight
@pytest.mark.parametrize("name", ["boxcar", "epanechnikov"])
def test_a_query_with_no_key_in_reach_raises_and_names_it(name: str) -> None:
    k = torch.tensor([0.0, 0.1, 0.2, 3.0])
    q = torch.tensor([0.05, 1.5, 2.9])
    with pytest.raises(
        ValueError,
        match=r"zero total weight to 1 of 3 queries, e\.g\. query 1 \(q=1\.5\).*"
        r"distance 1\.3.*use h >= 1\.3",
    ):
        nadaraya_watson(q, k, torch.zeros(4), name, 0.5)
    _, w = nadaraya_watson(
        q, k, torch.zeros(4), name, 1.31
    )  # the suggested bandwidth works
    assert bool(torch.isfinite(w).all())


def test_leave_one_out_can_empty_a_row_and_says_so() -> None:
    k = torch.tensor(
        [0.0, 0.1, 5.0]
    )  # key 2 is alone: without itself nothing is within h
    with pytest.raises(ValueError, match=r"query 2 \(q=5\).*distance 4\.9"):
        nadaraya_watson(k, k, torch.zeros(3), "boxcar", 1.0, leave_one_out=True)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("args", "kw", "error", "message"),
    [
        (
            (torch.zeros(2, 1), torch.zeros(3), torch.zeros(3)),
            {},
            ValueError,
            r"expected 1-D queries \(n_queries,\) and keys \(n_keys,\).*got shapes \(2, 1\) and \(3,\)",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(4)),
            {},
            ValueError,
            r"values of shape \(3,\) or \(3, d_v\).*got \(4,\)",
        ),
        (
            (torch.zeros(2), torch.zeros(0), torch.zeros(0)),
            {},
            ValueError,
            "at least one key, got 0",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"leave_one_out": True},
            ValueError,
            "as many queries as keys.*got 2 queries and 3 keys",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"bandwidth": 0.0},
            ValueError,
            "bandwidth must be positive and finite, got 0.0",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"bandwidth": -1},
            ValueError,
            "positive and finite, got -1",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"bandwidth": float("nan")},
            ValueError,
            "positive and finite, got nan",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"bandwidth": "1"},
            TypeError,
            "bandwidth must be a number or a 0-d floating tensor, got str",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"bandwidth": torch.ones(2)},
            TypeError,
            r"of shape \(2,\)",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"kernel": "cosine"},
            ValueError,
            r"unknown kernel 'cosine'; expected one of \['boxcar', 'constant', 'epanechnikov', 'gaussian'\]",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"kernel": 3},
            TypeError,
            "kernel must be a name in .* or a callable, got int",
        ),
        (
            (torch.zeros(2), torch.zeros(3, dtype=torch.int64), torch.zeros(3)),
            {},
            TypeError,
            "keys must be a floating-point tensor, got dtype torch.int64",
        ),
        (
            ([0.0], torch.zeros(3), torch.zeros(3)),
            {},
            TypeError,
            "queries must be a torch.Tensor, got list",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3, dtype=torch.float64)),
            {},
            TypeError,
            "share one dtype, got torch.float32, torch.float32, torch.float64",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"kernel": lambda d, h: -torch.ones_like(d)},
            ValueError,
            "must return finite, non-negative weights",
        ),
        (
            (torch.zeros(2), torch.zeros(3), torch.zeros(3)),
            {"kernel": lambda d, h: torch.ones(3)},
            ValueError,
            r"must return a tensor of shape \(2, 3\), got \(3,\)",
        ),
    ],
)
def test_bad_input_says_what_was_expected_and_what_came(
    args, kw, error, message
) -> None:
    with pytest.raises(error, match=message):
        nadaraya_watson(*args, **kw)


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernels_reject_bad_input(name: str) -> None:
    with pytest.raises(
        TypeError,
        match="distances must be a floating-point tensor, got dtype torch.int64",
    ):
        KERNELS[name](torch.zeros(3, dtype=torch.int64), 1.0)
    with pytest.raises(
        ValueError, match="bandwidth must be positive and finite, got -0.5"
    ):
        KERNELS[name](torch.zeros(3), -0.5)


# --------------------------------------------------------------------------- the learned width
def test_parametric_model_is_the_gaussian_estimator_at_its_width() -> None:
    data = make_regression(seed=5)
    model = ParametricNadarayaWatson(w=0.3)
    assert model.w.item() == pytest.approx(0.3)
    preds = model(data.x_test, data.x_train, data.y_train)
    want, weights = nadaraya_watson(
        data.x_test, data.x_train, data.y_train, "gaussian", 0.3
    )
    torch.testing.assert_close(preds, want)
    torch.testing.assert_close(model.attention_weights, weights)


@pytest.mark.parametrize("w", [0.0, -1.0, float("inf"), 10**400, True, "1"])
def test_parametric_model_rejects_a_bad_initial_width(w) -> None:
    with pytest.raises(
        (ValueError, TypeError),
        match="initial width w must be a (finite|real) number",
    ):
        ParametricNadarayaWatson(w=w)


def test_leave_one_out_training_lowers_the_loss_and_finds_a_sensible_width() -> (
    None
):
    data = make_regression(seed=0)
    model = ParametricNadarayaWatson(w=1.0)
    losses = train_width(
        model, data.x_train, data.y_train, steps=150, progress=False
    )
    assert len(losses) == 150
    assert losses[-1] < 0.6 * losses[0]
    # the width settles where the leave-one-out error of a fine grid of fixed widths is smallest
    grid = torch.linspace(0.05, 1.0, 96)
    loo = [
        (
            (
                nadaraya_watson(
                    data.x_train,
                    data.x_train,
                    data.y_train,
                    "gaussian",
                    float(h),
                    leave_one_out=True,
                )[0]
                - data.y_train
            )
            ** 2
        ).mean()
        for h in grid
    ]
    best = float(grid[int(torch.stack(loo).argmin())])
    assert abs(model.w.item() - best) < 0.02
    # and it predicts the noise-free curve better than the initial width did
    with torch.no_grad():
        learned = (
            (model(data.x_test, data.x_train, data.y_train) - data.y_test) ** 2
        ).mean()
    initial, _ = nadaraya_watson(
        data.x_test, data.x_train, data.y_train, "gaussian", 1.0
    )
    assert learned < ((initial - data.y_test) ** 2).mean()


def test_training_without_leave_one_out_collapses_the_width() -> None:
    data = make_regression(seed=0)
    model = ParametricNadarayaWatson(w=1.0)
    losses = train_width(
        model,
        data.x_train,
        data.y_train,
        steps=150,
        leave_one_out=False,
        progress=False,
    )
    assert (
        model.w.item() < 0.05 and losses[-1] < 0.1 * losses[0]
    )  # it memorises the training targets
    with torch.no_grad():
        _, w = (
            model(data.x_train, data.x_train, data.y_train),
            model.attention_weights,
        )
    assert (
        torch.diagonal(w).median() > 0.5
    )  # a typical training point now attends mostly to itself
    _, before = nadaraya_watson(
        data.x_train, data.x_train, data.y_train, "gaussian", 1.0
    )
    assert (
        torch.diagonal(before).median() < 0.1
    )  # ... which it did not at the initial width


@pytest.mark.parametrize(
    ("kw", "message"), [({"steps": 0}, "steps"), ({"lr": 0.0}, "lr")]
)
def test_train_width_rejects_bad_settings(kw, message) -> None:
    data = make_regression(n_train=5)
    with pytest.raises(ValueError, match=message):
        train_width(
            ParametricNadarayaWatson(),
            data.x_train,
            data.y_train,
            progress=False,
            **kw,
        )


# --------------------------------------------------------------------------- data
def test_regression_data_is_seeded_sorted_and_noise_free_on_the_test_grid() -> None:
    a, b, c = (
        make_regression(seed=0),
        make_regression(seed=0),
        make_regression(seed=1),
    )
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == (50,) and a.x_test.shape == (51,)
    assert (
        bool((a.x_train[1:] >= a.x_train[:-1]).all())
        and 0 <= a.x_train.min()
        and a.x_train.max() <= 5
    )
    torch.testing.assert_close(a.x_test[:3], torch.tensor([0.0, 0.1, 0.2]))
    torch.testing.assert_close(a.y_test, 2 * torch.sin(a.x_test) + a.x_test**0.8)
    residual = a.y_train - regression_truth(a.x_train)
    assert 0.35 < residual.std().item() < 0.65  # noise of standard deviation 0.5
    noiseless = make_regression(noise=0.0)
    torch.testing.assert_close(
        noiseless.y_train, regression_truth(noiseless.x_train)
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_train": 0}, "n_train"),
        ({"n_test": 2.5}, "n_test"),
        ({"noise": -1.0}, "noise"),
        ({"high": 0.0}, "high"),
    ],
)
def test_regression_data_rejects_bad_settings(kw, message) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make_regression(**kw)


def test_the_grid_stacks_one_estimate_per_kernel_and_bandwidth() -> None:
    data = make_regression(n_train=20, n_test=11, noise=0.5, seed=1)
    kernels, widths = ["gaussian", epanechnikov], [0.8, 2.0, 3.0]
    preds, weights = nadaraya_watson_grid(
        data.x_test, data.x_train, data.y_train, kernels, widths
    )
    assert preds.shape == (2, 3, 11) and weights.shape == (2, 3, 11, 20)
    for k, kernel in enumerate(kernels):
        for b, w in enumerate(widths):
            p, a = nadaraya_watson(
                data.x_test, data.x_train, data.y_train, kernel, w
            )
            assert torch.equal(preds[k, b], p) and torch.equal(weights[k, b], a)
    values = torch.stack([data.y_train, -data.y_train], dim=1)  # (20, d_v = 2)
    preds, _ = nadaraya_watson_grid(
        data.x_test, data.x_train, values, kernels, widths
    )
    assert preds.shape == (2, 3, 11, 2)
    assert torch.allclose(preds[..., 1], -preds[..., 0])


def test_the_grid_rejects_empty_or_single_items_and_names_the_failing_pair() -> (
    None
):
    data = make_regression(n_train=20, n_test=11, noise=0.5, seed=1)
    args = (data.x_test, data.x_train, data.y_train)
    with pytest.raises(ValueError, match="bandwidths is empty"):
        nadaraya_watson_grid(*args, ["gaussian"], [])
    with pytest.raises(ValueError, match="kernels is empty"):
        nadaraya_watson_grid(*args, [], [1.0])
    with pytest.raises(TypeError, match="kernels must be a sequence"):
        nadaraya_watson_grid(*args, "gaussian", [1.0])
    with pytest.raises(TypeError, match="bandwidths must be a sequence"):
        nadaraya_watson_grid(*args, ["gaussian"], 1.0)
    with pytest.raises(ValueError, match="kernel 'boxcar', bandwidth 0.01: "):
        nadaraya_watson_grid(*args, ["gaussian", "boxcar"], [1.0, 0.01])
