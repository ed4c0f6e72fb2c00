"""ResidualCNN (chapter 8): SE / CBAM inside the residual branch, before the addition, as in the papers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbook.channel_spatial import CBAM, ResidualCNN, SqueezeExcitation

VARIANTS = {
    "plain": None,
    "se": lambda c: SqueezeExcitation(c, reduction=4),
    "cbam": lambda c: CBAM(c, reduction=4),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_shapes_and_module_sizes(name: str) -> None:
    model = ResidualCNN(VARIANTS[name]).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, 24, 24))
    assert out.shape == (3, 10)
    assert len(model.attention) == (0 if name == "plain" else 3)
    if (
        name == "cbam"
    ):  # the spatial gates see the blocks' positions: 12 x 12, 6 x 6, 3 x 3
        assert [
            tuple(m.spatial.attention_weights.shape[1:]) for m in model.attention
        ] == [(12, 12), (6, 6), (3, 3)]


def test_variants_share_the_same_convolutions() -> None:
    states = []
    for make in VARIANTS.values():
        torch.manual_seed(0)
        model = ResidualCNN(make)
        states.append(
            {
                k: v
                for k, v in model.state_dict().items()
                if not k.startswith("attention.")
            }
        )
    for state in states[1:]:
        assert state.keys() == states[0].keys()
        assert all(torch.equal(state[k], states[0][k]) for k in state)


def test_attention_sits_in_the_branch_before_the_addition() -> None:
    """A gate that closes completely (multiplies the branch by 0) leaves only the shortcut: the block is
    ReLU(shortcut(x)), and for the identity shortcut of block 1 that is ReLU(x) = x after the stem's ReLU."""

    class Closed(nn.Module):
        def forward(self, f: torch.Tensor) -> torch.Tensor:
            return f * 0.0

    torch.manual_seed(0)
    model = ResidualCNN(lambda c: Closed(), widths=(8,)).eval()
    x = torch.rand(2, 1, 24, 24)
    with torch.no_grad():
        stem = model.stem(x)
        expected = model.head(torch.relu(stem).mean(dim=(2, 3)))
        assert torch.allclose(model(x), expected, atol=1e-6)
        # and the gate really multiplies the branch: an open gate (identity) gives a different output
        model.attention[0] = nn.Identity()
        assert not torch.allclose(model(x), expected, atol=1e-4)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = ResidualCNN(VARIANTS["cbam"])
    nn.functional.cross_entropy(
        model(torch.rand(4, 1, 24, 24)), torch.tensor([0, 1, 2, 3])
    ).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, missing


def test_bad_input_is_a_clear_error() -> None:
    model = ResidualCNN()
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 3, 24, 24))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.rand(24, 24))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(2, 1, 24, 24, dtype=torch.long))
    with pytest.raises(ValueError, match="widths"):
        ResidualCNN(widths=())
    with pytest.raises(ValueError, match="num_classes"):
        ResidualCNN(num_classes=0)
    with pytest.raises(TypeError, match="widths"):
        ResidualCNN(widths=(16, 32.0))
