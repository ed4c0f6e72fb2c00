"""Nadaraya--Watson kernel regression: attention pooling with a fixed similarity (chapter 2).

Given training pairs ``(k_i, v_i)`` -- inputs as keys, targets as values -- the
Nadaraya--Watson estimator (Nadaraya 1964; Watson 1964) predicts at a query ``q``

    f(q) = sum_i alpha(q, k_i) v_i,    alpha(q, k_i) = K((q - k_i) / h) / sum_j K((q - k_j) / h),

a weighted average of the values whose weights come from how close each key is
to the query. ``K`` is a *kernel* (a non-negative bump centred at zero) and
``h > 0`` its *bandwidth*, the distance over which keys still count. The kernel's
own normalising constant cancels in the quotient, so the functions here return
unnormalised weights with ``K(0) = 1``.

Queries and keys are scalars here; later chapters compare vectors with learned
scoring functions. Module contents:

* one function per kernel -- :func:`gaussian`, :func:`boxcar`, :func:`constant`,
  :func:`epanechnikov` -- mapping differences ``q - k`` (any shape) and a
  bandwidth to unnormalised weights (collected in :data:`KERNELS`);
* :func:`nadaraya_watson`, the pooling itself, returning predictions *and* the
  ``(n_queries, n_keys)`` attention weights; :func:`nadaraya_watson_grid` runs it
  for every kernel at every bandwidth (the frames of chapter 2's explorer);
* :class:`ParametricNadarayaWatson`, the Gaussian estimator with a learnable
  width ``w``, and :func:`train_width`, which fits it by leave-one-out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from attnbook._checks import check_float, check_instance, check_int
from attnbook.train import optimizer_step, progress_bar

__all__ = [
    "KERNELS",
    "ParametricNadarayaWatson",
    "boxcar",
    "constant",
    "epanechnikov",
    "gaussian",
    "nadaraya_watson",
    "nadaraya_watson_grid",
    "train_width",
]

#: A kernel: ``(differences q - k of any shape, bandwidth h) -> unnormalised weights, same shape``.
Kernel = Callable[[torch.Tensor, "float | torch.Tensor"], torch.Tensor]


def _check_bandwidth(bandwidth: float | torch.Tensor) -> None:
    if isinstance(bandwidth, torch.Tensor):
        if bandwidth.dim() != 0 or not bandwidth.is_floating_point():
            raise TypeError(
                f"bandwidth must be a number or a 0-d floating tensor, got a {bandwidth.dtype} tensor "
                f"of shape {tuple(bandwidth.shape)}"
            )
        value = bandwidth.item()
    elif isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
        # an int beyond the range of a float is as good as infinite
        big = isinstance(bandwidth, int) and abs(bandwidth) >= 2**1000
        value = math.inf if big else float(bandwidth)
    else:
        raise TypeError(
            f"bandwidth must be a number or a 0-d floating tensor, got {type(bandwidth).__name__}"
        )
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"bandwidth must be positive and finite, got {value}")


def _check_distances(distances: torch.Tensor) -> None:
    if not isinstance(distances, torch.Tensor):
        raise TypeError(
            f"distances must be a torch.Tensor, got {type(distances).__name__}"
        )
    if not distances.is_floating_point():
        raise TypeError(
            f"distances must be a floating-point tensor, got dtype {distances.dtype}"
        )


def gaussian(
    distances: torch.Tensor, bandwidth: float | torch.Tensor
) -> torch.Tensor:
    """Gaussian kernel ``exp(-u^2 / 2)`` with ``u = d / h``; every key gets some weight."""
    _check_distances(distances)
    _check_bandwidth(bandwidth)
    return torch.exp(-0.5 * (distances / bandwidth) ** 2)


def boxcar(
    distances: torch.Tensor, bandwidth: float | torch.Tensor
) -> torch.Tensor:
    """Boxcar (uniform) kernel: 1 if ``|d| <= h`` else 0 -- a plain average of the keys within ``h``."""
    _check_distances(distances)
    _check_bandwidth(bandwidth)
    return (distances.abs() <= bandwidth).to(distances.dtype)


def constant(
    distances: torch.Tensor, bandwidth: float | torch.Tensor
) -> torch.Tensor:
    """Constant kernel: weight 1 whatever the distance, i.e. average pooling (``h`` is checked, then ignored)."""
    _check_distances(distances)
    _check_bandwidth(bandwidth)
    return torch.ones_like(distances)


def epanechnikov(
    distances: torch.Tensor, bandwidth: float | torch.Tensor
) -> torch.Tensor:
    """Epanechnikov kernel ``max(0, 1 - u^2)`` with ``u = d / w`` (Epanechnikov
    1969): a parabola of width ``2w``."""
    _check_distances(distances)
    _check_bandwidth(bandwidth)
    return torch.clamp(1 - (distances / bandwidth) ** 2, min=0)


#: The kernels by name, in the order the chapter shows them.
KERNELS: dict[str, Kernel] = {
    "gaussian": gaussian,
    "boxcar": boxcar,
    "constant": constant,
    "epanechnikov": epanechnikov,
}


def _resolve_kernel(kernel: str | Kernel) -> tuple[str, Kernel]:
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(
                f"unknown kernel {kernel!r}; expected one of {sorted(KERNELS)} or a callable"
            )
        return kernel, KERNELS[kernel]
    if callable(kernel):
        return getattr(kernel, "__name__", repr(kernel)), kernel
    raise TypeError(
        f"kernel must be a name in {sorted(KERNELS)} or a callable, got {type(kernel).__name__}"
    )


def _check_inputs(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    leave_one_out: bool,
) -> None:
    for name, t in (("queries", queries), ("keys", keys), ("values", values)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor, got {type(t).__name__}"
            )
        if not t.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor, got dtype {t.dtype}"
            )
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite, got inf or NaN")
    if len({queries.dtype, keys.dtype, values.dtype}) != 1:
        raise TypeError(
            f"queries, keys and values must share one dtype, got {queries.dtype}, {keys.dtype}, {values.dtype}"
        )
    if queries.dim() != 1 or keys.dim() != 1:
        raise ValueError(
            f"expected 1-D queries (n_queries,) and keys (n_keys,) of scalars, "
            f"got shapes {tuple(queries.shape)} and {tuple(keys.shape)}"
        )
    if keys.numel() == 0:
        raise ValueError("expected at least one key, got 0")
    if values.dim() not in (1, 2) or values.shape[0] != keys.shape[0]:
        raise ValueError(
            f"expected values of shape ({keys.shape[0]},) or ({keys.shape[0]}, d_v), one row per key, "
            f"got {tuple(values.shape)}"
        )
    if leave_one_out and (queries.shape[0] != keys.shape[0] or keys.shape[0] < 2):
        raise ValueError(
            "leave_one_out pairs query i with key i, so it expects as many queries as keys and at least 2 keys, "
            f"got {queries.shape[0]} queries and {keys.shape[0]} keys"
        )


def nadaraya_watson(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    kernel: str | Kernel = "gaussian",
    bandwidth: float | torch.Tensor = 1.0,
    *,
    leave_one_out: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nadaraya--Watson estimate at each query: attention pooling with kernel
    weights.

    ``alpha[j, i] = K((q_j - k_i) / h) / sum_l K((q_j - k_l) / h)`` and
    ``prediction[j] = sum_i alpha[j, i] v_i`` (Nadaraya 1964; Watson 1964).

    Args:
        queries: ``(n_queries,)`` points at which to predict.
        keys: ``(n_keys,)`` training inputs.
        values: ``(n_keys,)`` or ``(n_keys, d_v)`` training targets, one row per
            key.
        kernel: a name in :data:`KERNELS` or a callable with the same signature
            as :func:`gaussian`.
        bandwidth: ``h > 0`` (a number, or a 0-d tensor to learn it).
        leave_one_out: exclude key ``i`` from query ``i`` (requires as many
            queries as keys): the weight ``alpha[i, i]`` is exactly 0. Used to
            score a bandwidth on the training set itself.

    Returns:
        ``(predictions, weights)``: predictions ``(n_queries,)`` or
        ``(n_queries, d_v)`` like ``values``; weights ``(n_queries, n_keys)``,
        non-negative, each row summing to 1.

    Raises:
        ValueError: if some query has zero total kernel weight -- a kernel with
            bounded support (boxcar, Epanechnikov) and no key within ``h`` of it.
            The estimate is 0/0 there; rather than inventing a value (a global
            mean, the nearest key), which would quietly be a different estimator,
            the error names the query and the bandwidth that would cover it.
            Also for mis-shaped inputs, a non-positive bandwidth, an unknown kernel
            name, or a callable kernel returning negative/non-finite weights.
        TypeError: non-tensor or non-floating inputs, mixed dtypes, a kernel that
            is neither a name nor a callable.

    The Gaussian weights are computed as ``softmax(-(q - k)^2 / (2 h^2))`` over
    the keys -- the same quotient, but it cannot underflow to 0/0 when ``h`` is
    tiny; where even ``((q - k) / h)^2`` overflows, the scores are taken relative
    to the nearest key first, so a query far from every key (or a tiny ``h``)
    gets the weight of its nearest key(s), never NaN. It is also chapter 1's soft
    lookup with score ``-(q - k)^2`` and
    temperature ``2 h^2``.
    """
    name, kernel_fn = _resolve_kernel(kernel)
    _check_inputs(queries, keys, values, leave_one_out)
    _check_bandwidth(bandwidth)

    distances = queries[:, None] - keys[None, :]  # (n_q, n_k): q_j - k_i
    excluded = None
    if leave_one_out:  # (n, n), True on the diagonal: query i's own key
        excluded = torch.eye(keys.shape[0], dtype=torch.bool, device=keys.device)

    if kernel_fn is gaussian:
        scores = -0.5 * (distances / bandwidth) ** 2  # log of the Gaussian kernel
        if excluded is not None:
            scores = scores.masked_fill(excluded, float("-inf"))
        # (n_q,): (q - k) / h overflowed for every key
        lost = torch.isinf(scores.amax(dim=1))
        if bool(lost.any()):
            scores = torch.where(
                lost[:, None],
                _relative_scores(distances, bandwidth, excluded),
                scores,
            )
        weights = torch.softmax(scores, dim=1)
    else:
        raw = kernel_fn(distances, bandwidth)
        _check_kernel_output(name, raw, distances.shape)
        if excluded is not None:
            raw = raw.masked_fill(excluded, 0.0)
        total = raw.sum(dim=1, keepdim=True)  # (n_queries, 1)
        empty = torch.nonzero(
            total.squeeze(1) == 0
        ).flatten()  # queries with no key in reach
        if empty.numel() > 0:
            message = _empty_rows_message(
                name, bandwidth, queries, distances, excluded, empty
            )
            raise ValueError(message)
        weights = raw / total
    predictions = weights @ values  # (n_q, n_k) @ (n_k[, d_v]) -> (n_q[, d_v])
    return predictions, weights


def nadaraya_watson_grid(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    kernels: Sequence[str | Kernel],
    bandwidths: Sequence[float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nadaraya_watson` for every kernel at every bandwidth, stacked.

    Returns:
        ``(predictions, weights)``: predictions ``(n_kernels, n_bandwidths,
        n_queries)`` (``values`` of shape ``(n_keys, d_v)`` add a last axis
        ``d_v``) and weights ``(n_kernels, n_bandwidths, n_queries, n_keys)`` --
        the frames of a :class:`~attnbook.viz.explorer.HeatmapExplorer` with a
        kernel slider and a bandwidth slider.

    Raises:
        ValueError: no kernel or no bandwidth, or whatever :func:`nadaraya_watson`
            raises for one pair (e.g. a query no key reaches, naming both).
        TypeError: ``kernels`` or ``bandwidths`` given as a single item instead of
            a sequence.
    """
    for what, items in (("kernels", kernels), ("bandwidths", bandwidths)):
        if isinstance(items, str) or not isinstance(items, Sequence):
            raise TypeError(
                f"{what} must be a sequence (list or tuple), got {type(items).__name__}"
            )
        if len(items) == 0:
            raise ValueError(f"{what} is empty; expected at least one")
    rows = []
    for kernel in kernels:
        row = []
        for bandwidth in bandwidths:
            try:
                row.append(
                    nadaraya_watson(queries, keys, values, kernel, bandwidth)
                )
            except ValueError as error:
                name = _resolve_kernel(kernel)[0]
                raise ValueError(
                    f"kernel {name!r}, bandwidth {bandwidth}: {error}"
                ) from None
        rows.append(row)
    predictions = torch.stack([torch.stack([p for p, _ in row]) for row in rows])
    weights = torch.stack([torch.stack([a for _, a in row]) for row in rows])
    return predictions, weights


def _relative_scores(
    distances: torch.Tensor,
    bandwidth: float | torch.Tensor,
    excluded: torch.Tensor | None,
) -> torch.Tensor:
    """Gaussian log-weights shifted so that each row's nearest key scores 0 (softmax is shift-invariant).

    ``-((q - k)^2 - (q - k_near)^2) / (2 h^2)``, factored as ``(a - m)(a + m)`` with ``a = |q - k|``
    and ``m`` the nearest distance, so that it stays finite where ``((q - k) / h)^2`` overflows.
    """
    a = distances.abs()
    if excluded is not None:
        a = a.masked_fill(excluded, float("inf"))
    m = a.amin(dim=1, keepdim=True)  # (n_q, 1)
    scores = torch.where(
        a == m, 0.0, -0.5 * ((a - m) / bandwidth) * ((a + m) / bandwidth)
    )
    return (
        scores if excluded is None else scores.masked_fill(excluded, float("-inf"))
    )


def _check_kernel_output(name: str, raw: object, shape: torch.Size) -> None:
    if not isinstance(raw, torch.Tensor) or raw.shape != shape:
        got = (
            tuple(raw.shape)
            if isinstance(raw, torch.Tensor)
            else type(raw).__name__
        )
        raise ValueError(
            f"kernel {name!r} must return a tensor of shape {tuple(shape)}, got {got}"
        )
    if not bool(torch.isfinite(raw).all()) or bool((raw < 0).any()):
        raise ValueError(
            f"kernel {name!r} must return finite, non-negative weights"
        )


def _empty_rows_message(
    name: str,
    bandwidth: float | torch.Tensor,
    queries: torch.Tensor,
    distances: torch.Tensor,
    excluded: torch.Tensor | None,
    empty: torch.Tensor,
) -> str:
    gaps = distances.detach().abs()
    if excluded is not None:
        gaps = gaps.masked_fill(excluded, float("inf"))
    nearest = gaps.min(
        dim=1
    ).values  # (n_queries,): distance to the nearest usable key
    j = int(empty[0])
    h = float(bandwidth)
    return (
        f"kernel {name!r} with bandwidth h={h:.4g} gives zero total weight to {empty.numel()} of "
        f"{queries.shape[0]} queries, e.g. query {j} (q={float(queries[j]):.4g}), whose nearest key is at "
        f"distance {float(nearest[j]):.4g}: the Nadaraya-Watson estimate is 0/0 there. Expected every query "
        f"to have a key within its kernel's support: use h >= {float(nearest[empty].max()):.4g} for these queries, "
        f"or the 'gaussian' kernel, which never vanishes."
    )


class ParametricNadarayaWatson(nn.Module):
    """Gaussian Nadaraya--Watson pooling whose width ``w`` (the bandwidth) is
    learned.

    ``alpha(q, k_i) = softmax_i(-(q - k_i)^2 / (2 w^2))``; the single parameter is
    stored as ``log w`` so that gradient steps can never make the width
    negative. After a forward pass ``.attention_weights`` holds the
    ``(n_queries, n_keys)`` weights.
    """

    def __init__(self, w: float = 1.0) -> None:
        super().__init__()
        w = check_float("the initial width w", w)
        self.log_w = nn.Parameter(torch.tensor(math.log(w)))
        self.attention_weights: torch.Tensor | None = None

    @property
    def w(self) -> torch.Tensor:
        """The width (bandwidth) ``w = exp(log_w)``, a 0-d tensor."""
        return self.log_w.exp()

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        leave_one_out: bool = False,
    ) -> torch.Tensor:
        """Shapes as in :func:`nadaraya_watson`; returns the predictions."""
        predictions, self.attention_weights = nadaraya_watson(
            queries, keys, values, "gaussian", self.w, leave_one_out=leave_one_out
        )
        return predictions


def train_width(
    model: ParametricNadarayaWatson,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 200,
    lr: float = 0.05,
    leave_one_out: bool = True,
    progress: bool = True,
) -> list[float]:
    """Fit the width by full-batch Adam on the mean squared error over the training
    pairs.

    Every training input ``x_i`` is used as a query against all training pairs
    as keys and values. With ``leave_one_out=True`` (the default) pair ``i`` is
    hidden from its own query, so the loss is the leave-one-out cross-validation
    error (Stone 1974). With ``False`` each query also sees its own key at
    distance 0, and the loss is minimised by shrinking ``w`` until every point
    predicts its own target: it goes to 0 without learning anything.

    Args:
        x, y: ``(n,)`` training inputs and targets.
        steps, lr: number of Adam steps and learning rate (in ``log w``).
        progress: show a tqdm progress bar.

    Returns:
        The loss before each step, ``steps`` floats (a loss curve).
    """
    check_instance("model", model, ParametricNadarayaWatson)
    check_int("steps", steps)
    check_float("lr", lr)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    with progress_bar(
        steps, "leave-one-out" if leave_one_out else "plain", progress
    ) as bar:
        for _ in range(steps):
            loss = ((model(x, x, y, leave_one_out=leave_one_out) - y) ** 2).mean()
            # the update of attnbook.train.train, without clipping
            optimizer_step(optimizer, loss)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(
                loss=f"{losses[-1]:.4f}", w=f"{model.w.item():.4f}", refresh=False
            )
    return losses
