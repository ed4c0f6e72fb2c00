"""Time the book's attention primitives side by side with those of *Dive into Deep Learning* (d2l 1.0.3).

d2l is not a dependency of the book: fetch its wheel once and point this script at it::

    pip download d2l==1.0.3 --no-deps -d /tmp/d2l
    python code/benchmarks/peers.py --wheel /tmp/d2l/d2l-1.0.3-py3-none-any.whl

The script reads ``d2l/torch.py`` from the wheel and executes only the definitions it compares
(``masked_softmax``, ``DotProductAttention``, ``MultiHeadAttention``) -- importing the module would pull
in torchvision, pandas and the rest of d2l's library. Nothing from d2l is stored in this repository.

One CPU thread; every row runs forward under ``no_grad`` (eval mode) and forward + backward of the sum;
medians of ``--repeats`` interleaved calls. Every row gets a fresh copy of the same inputs (d2l's
``masked_softmax`` writes into its input), so each timing includes one copy.
Sizes: scores (32, 8, 128, 128) -- d2l's ``masked_softmax`` takes 3-D scores, so it gets the same numbers as
(256, 128, 128) with the lengths repeated per head, as its multi-head attention does; dot-product attention
on (256, 128, 32); multi-head attention on (32, 128, 256) with 8 heads. Lengths random in [1, 128]
(d2l's ``-1e6`` fill would give a uniform row where a length is 0). Timings are noisy on a shared machine:
compare the ratios, and run it twice.
"""

from __future__ import annotations

import argparse
import ast
import math
import pathlib
import sys
import types
import zipfile

import torch
from torch import nn

sys.path.insert(
    0, str(pathlib.Path(__file__).resolve().parents[1])
)  # code/: the book's package
from attnbook import DotProductAttention, MultiHeadAttention, masked_softmax
from attnbook.profiling import interleaved_ms

WANTED = ("masked_softmax", "DotProductAttention", "MultiHeadAttention")


def load_d2l(wheel: pathlib.Path) -> types.SimpleNamespace:
    """``masked_softmax``, ``DotProductAttention``, ``MultiHeadAttention`` of d2l's torch library, from its wheel."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("d2l/torch.py").decode("utf-8")
    tree = ast.parse(source)
    nodes = {
        n.name: n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in WANTED
    }
    d2l = types.SimpleNamespace(
        Module=nn.Module
    )  # d2l.Module adds plotting/training hooks only
    namespace = {"torch": torch, "nn": nn, "math": math, "d2l": d2l}
    for name in WANTED:  # in dependency order
        code = compile(
            ast.Module([nodes[name]], []), f"d2l/torch.py:{name}", "exec"
        )
        exec(code, namespace)  # noqa: S102 -- d2l's own source, read from its wheel
        setattr(d2l, name, namespace[name])
    return d2l


def fwd_and_bwd(fn, *inputs: torch.Tensor) -> dict[str, object]:
    leaves = [x.clone().requires_grad_() for x in inputs]

    def fwd() -> None:
        with torch.no_grad():
            fn(
                *(x.clone() for x in inputs)
            )  # d2l's masked_softmax writes into its input

    def fwd_bwd() -> None:
        fn(*(x.clone() for x in leaves)).sum().backward()

    return {"fwd": fwd, "fwd_bwd": fwd_bwd}


def compare(title: str, rows: dict[str, dict[str, object]], repeats: int) -> None:
    flat = {
        f"{name}|{kind}": f
        for name, kinds in rows.items()
        for kind, f in kinds.items()
    }
    ms = interleaved_ms(flat, repeats)
    book = next(iter(rows))
    print(f"\n{title}")
    print(
        f"  {'implementation':28s} {'fwd ms':>9s} {'fwd+bwd ms':>11s} {'book / it (fwd, fwd+bwd)':>27s}"
    )
    for name in rows:
        f, fb = ms[f"{name}|fwd"], ms[f"{name}|fwd_bwd"]
        ratio = f"{ms[f'{book}|fwd'] / f:.2f}x, {ms[f'{book}|fwd_bwd'] / fb:.2f}x"
        print(f"  {name:28s} {f:9.2f} {fb:11.2f} {ratio:>27s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=pathlib.Path,
        default=pathlib.Path("/tmp/d2l/d2l-1.0.3-py3-none-any.whl"),
    )
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    if not args.wheel.is_file():
        sys.exit(
            f"no d2l wheel at {args.wheel}: pip download d2l==1.0.3 --no-deps -d {args.wheel.parent}"
        )
    d2l = load_d2l(args.wheel)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    B, h, T, d = 32, 8, 128, 256
    lens = torch.randint(1, T + 1, (B,), generator=g)
    lens_per_head = lens.repeat_interleave(
        h
    )  # (B*h,): what d2l's multi-head attention passes down

    scores = torch.randn(B, h, T, T, generator=g)
    blocked = (torch.arange(T) >= lens[:, None])[
        :, None, None, :
    ]  # (B, 1, 1, T), True = padding
    compare("masked softmax, scores (32, 8, 128, 128)", {
        "book masked_softmax": fwd_and_bwd(lambda S: masked_softmax(S, lens), scores),
        "d2l masked_softmax (3-D)": fwd_and_bwd(lambda S: d2l.masked_softmax(S.view(B * h, T, T), lens_per_head), scores),
        "torch masked_fill idiom": fwd_and_bwd(lambda S: S.masked_fill(blocked, float("-inf")).softmax(-1), scores),
    }, args.repeats)  # fmt: skip

    q, k, v = (torch.randn(B * h, T, d // h, generator=g) for _ in range(3))
    book_dot, d2l_dot = (
        DotProductAttention().eval(),
        d2l.DotProductAttention(0.0).eval(),
    )
    compare("dot-product attention, (256, 128, 32)", {
        "book DotProductAttention": fwd_and_bwd(lambda q, k, v: book_dot(q, k, v, lens_per_head), q, k, v),
        "d2l DotProductAttention": fwd_and_bwd(lambda q, k, v: d2l_dot(q, k, v, lens_per_head), q, k, v),
    }, args.repeats)  # fmt: skip

    X = torch.randn(B, T, d, generator=g)
    torch.manual_seed(0)
    book_mha = MultiHeadAttention(d, h, bias=True).eval()
    d2l_mha = d2l.MultiHeadAttention(d, h, 0.0, bias=True).eval()
    with torch.no_grad():
        d2l_mha(X[:1], X[:1], X[:1], lens[:1])  # materialise its lazy layers
        d2l_mha.load_state_dict(
            book_mha.state_dict()
        )  # the same names: W_q, W_k, W_v, W_o
    torch_mha = book_mha.to_torch().eval()
    pad = blocked[:, 0, 0]  # (B, T)
    with torch.no_grad():
        same = (book_mha(X, X, X, lens) - d2l_mha(X, X, X, lens)).abs().max().item()
    print(
        f"\n(book vs d2l multi-head attention, same weights: max difference {same:.1e})"
    )
    compare("multi-head attention keeping the weights, (32, 128, 256), 8 heads, key padding", {
        "book MultiHeadAttention": fwd_and_bwd(lambda A: book_mha(A, A, A, lens), X),
        "d2l MultiHeadAttention": fwd_and_bwd(lambda A: d2l_mha(A, A, A, lens), X),
        "torch nn.MultiheadAttention": fwd_and_bwd(
            lambda A: torch_mha(A, A, A, key_padding_mask=pad, average_attn_weights=False)[0], X),
    }, args.repeats)  # fmt: skip


if __name__ == "__main__":
    main()
