"""Encoder-decoder with and without Bahdanau attention: shapes, masking, decoding, memorisation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attnbook import AdditiveAttention, DotProductAttention
from attnbook.data import BOS, EOS, PAD, UNK, make_dates
from attnbook.decoding import (
    alignment_explorer,
    beam_search,
    decoder_inputs,
    greedy_decode,
    predict,
    translate,
)
from attnbook.seq2seq import Seq2Seq, Seq2SeqDecoder, Seq2SeqEncoder
from attnbook.train import set_seed, train

V_SRC, V_TGT, E, H = 12, 9, 8, 16
pytestmark = pytest.mark.usefixtures("one_thread")


def model(
    attention: bool = True, cell: str = "gru", score: nn.Module | None = None
) -> Seq2Seq:
    torch.manual_seed(0)
    att = (
        (score or AdditiveAttention(H, query_size=H, key_size=H))
        if attention
        else None
    )
    return Seq2Seq(
        Seq2SeqEncoder(V_SRC, E, H, cell=cell),
        Seq2SeqDecoder(V_TGT, E, H, attention=att, cell=cell),
    ).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    src_len = torch.tensor([5, 2, 7])
    src = torch.randint(4, V_SRC, (3, 7), generator=g)
    src[torch.arange(7) >= src_len[:, None]] = PAD
    tgt = torch.randint(4, V_TGT, (3, 4), generator=g)
    return src, src_len, tgt


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", [True, False])
def test_shapes_through_encoder_and_decoder_with_padding(
    cell: str, attention: bool
) -> None:
    m = model(attention, cell)
    src, src_len, tgt = batch()
    outputs, state = m.encoder(src, src_len)
    assert outputs.shape == (3, 7, H)
    h = state[0] if isinstance(state, tuple) else state
    assert h.shape == (1, 3, H)
    assert (outputs[1, 2:] == 0).all()  # padded positions carry no state
    logits = m(src, src_len, decoder_inputs(tgt))
    assert logits.shape == (3, 4, V_TGT)
    weights = m.decoder.attention_weights
    assert (weights is None) == (not attention)
    if attention:
        assert weights.shape == (3, 4, 7)


def test_final_state_is_taken_at_the_last_real_token() -> None:
    m = model()
    src, src_len, _ = batch()
    _, state = m.encoder(src, src_len)
    for i in range(3):
        n = int(src_len[i])
        _, alone = m.encoder(src[i : i + 1, :n], src_len[i : i + 1])
        torch.testing.assert_close(state[:, i], alone[:, 0])


def test_masked_source_positions_get_exactly_zero_attention() -> None:
    m = model()
    src, src_len, tgt = batch()
    m(src, src_len, decoder_inputs(tgt))
    weights = m.decoder.attention_weights  # (B, T, S)
    padded = torch.arange(7) >= src_len[:, None]  # (B, S)
    assert (weights.masked_select(padded[:, None, :].expand_as(weights)) == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))


def test_padding_does_not_change_the_output() -> None:
    """Thanks to the final state at src_len - 1 and the mask, an input decodes the same alone and next to a longer one."""
    m = model()
    src, src_len, _ = batch()
    together = greedy_decode(m, src, src_len, max_len=6)
    alone = greedy_decode(m, src[1:2, :2], src_len[1:2], max_len=6)
    n = int(alone.tokens.shape[1])
    assert torch.equal(together.tokens[1, :n], alone.tokens[0])
    torch.testing.assert_close(together.attention[1, :n, :2], alone.attention[0])


def test_the_query_is_the_previous_hidden_state() -> None:
    m = model()
    src, src_len, _ = batch()
    memory, state = m.encode(src, src_len)
    seen = {}
    m.decoder.attention.register_forward_hook(
        lambda mod, args, out: seen.setdefault("query", args[0])
    )
    y = torch.full((3,), BOS)
    m.decoder.step(y, state, memory)
    torch.testing.assert_close(
        seen["query"], state[-1].unsqueeze(1)
    )  # s_{t-1} = the encoder's final state at t=1


def test_without_attention_the_context_is_the_final_encoder_state() -> None:
    m = model(attention=False)
    src, src_len, tgt = batch()
    memory, state = m.encode(src, src_len)
    torch.testing.assert_close(memory.final[:, 0], state[-1])
    changed = memory.outputs.clone()
    changed[:, 0] += 5.0  # the decoder must not read any other encoder state
    a = m.decoder.step(tgt[:, 0], state, memory)[0]
    b = m.decoder.step(
        tgt[:, 0], state, type(memory)(changed, memory.src_len, memory.final)
    )[0]
    torch.testing.assert_close(a, b)


def test_keys_projected_once_per_input_give_the_same_steps_and_gradients() -> None:
    m = model().train()
    src, src_len, tgt = batch()
    memory, state = m.encode(src, src_len)
    assert memory.keys is not None  # additive attention: W_k h_j stored once
    torch.testing.assert_close(
        memory.keys, m.decoder.attention.W_k(memory.outputs), rtol=0, atol=0
    )
    plain = type(memory)(memory.outputs, memory.src_len, memory.final)
    grads = []
    for mem in (memory, plain):
        m.zero_grad()
        logits, _, weights = m.decoder.step(tgt[:, 0], state, mem)
        (logits.sum() + weights.sum()).backward(retain_graph=True)
        grads.append([p.grad.clone() for p in m.parameters() if p.grad is not None])
        out = (logits, weights)
        if mem is memory:
            first = out
    torch.testing.assert_close(first, out)
    torch.testing.assert_close(grads[0], grads[1])
    with pytest.raises(ValueError, match="projected_keys must be project_keys"):
        m.decoder.attention(
            torch.randn(3, 1, H),
            memory.outputs,
            memory.outputs,
            projected_keys=memory.keys[:, :2],
        )


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_teacher_forcing_without_attention_equals_the_step_loop(cell: str) -> None:
    torch.manual_seed(0)
    m = Seq2Seq(
        Seq2SeqEncoder(V_SRC, E, H, cell=cell),
        Seq2SeqDecoder(V_TGT, E, H, attention=None, cell=cell),
    )
    src, src_len, tgt = batch()
    memory, state = m.encode(src, src_len)
    y_in = decoder_inputs(tgt)
    steps = []
    for t in range(y_in.shape[1]):  # one step at a time, as decoding runs
        logits, state, _ = m.decoder.step(y_in[:, t], state, memory)
        steps.append(logits)
    torch.testing.assert_close(m(src, src_len, y_in), torch.stack(steps, dim=1))
    assert m.decoder.attention_weights is None


def forced(m: Seq2Seq, token: int) -> Seq2Seq:
    """Make the decoder always predict ``token``."""
    with torch.no_grad():
        m.decoder.dense.weight.zero_()
        m.decoder.dense.bias.fill_(0.0)
        m.decoder.dense.bias[token] = 10.0
    return m


def test_greedy_decoding_stops_at_eos() -> None:
    src, src_len, _ = batch()
    out = greedy_decode(forced(model(), EOS), src, src_len, max_len=8)
    assert (
        out.tokens.shape == (3, 1)
        and (out.tokens == EOS).all()
        and out.lengths.tolist() == [1, 1, 1]
    )
    assert out.attention.shape == (3, 1, 7)


def test_greedy_decoding_stops_at_max_len_without_eos() -> None:
    src, src_len, _ = batch()
    out = greedy_decode(forced(model(), 5), src, src_len, max_len=4)
    assert (
        out.tokens.shape == (3, 4)
        and (out.tokens == 5).all()
        and out.lengths.tolist() == [4, 4, 4]
    )
    assert out.scores.shape == (3,) and (out.scores < 0).all()


def test_tokens_after_eos_are_padding_and_get_no_attention() -> None:
    m = model()
    src, src_len, _ = batch()
    out = greedy_decode(m, src, src_len, max_len=12)
    for i in range(3):
        n = int(out.lengths[i])
        assert (out.tokens[i, n:] == PAD).all() and (
            out.attention[i, n:] == 0
        ).all()
        if n < out.tokens.shape[1]:
            assert out.tokens[i, n - 1] == EOS


@pytest.mark.parametrize("attention", [True, False])
def test_beam_of_one_is_greedy_and_wider_beams_are_well_formed(
    attention: bool,
) -> None:
    m = model(attention)
    src, src_len, _ = batch()
    greedy = greedy_decode(m, src, src_len, max_len=6)
    one = beam_search(m, src, src_len, max_len=6, beam_size=1)
    n = greedy.tokens.shape[1]
    assert (
        torch.equal(one.tokens[:, :n], greedy.tokens)
        and (one.tokens[:, n:] == PAD).all()
    )
    torch.testing.assert_close(one.scores, greedy.scores)
    wide = beam_search(m, src, src_len, max_len=6, beam_size=4)
    assert wide.tokens.shape[0] == 3 and (wide.scores <= 0).all()
    for i in range(3):  # nothing but <pad> after the first <eos>
        n = int(wide.lengths[i])
        assert (wide.tokens[i, n:] == PAD).all()


def test_beam_search_finds_the_better_sequence_greedy_misses() -> None:
    """A decoder whose first-step favourite leads to a bad second step: beam search of width 2 avoids it."""

    class Toy(nn.Module):
        def step(self, y, state, memory):
            logits = torch.full((y.shape[0], 6), -20.0)
            first = y == BOS
            logits[first, 4], logits[first, 5] = (
                0.0,
                -0.3,
            )  # step 1: "4" slightly more likely than "5"
            logits[y == 4] = torch.tensor(
                [-20.0, -20.0, 0.0, -20.0, 0.0, 0.0]
            )  # after "4": three-way tie
            logits[y == 5, EOS] = 0.0  # after "5": <eos> for sure
            logits[y == EOS, EOS] = 0.0
            return logits, state, None

    toy = Seq2Seq(model().encoder, Toy())  # type: ignore[arg-type]
    src, src_len, _ = batch()
    greedy = greedy_decode(toy, src[:1], src_len[:1], max_len=2)
    beam = beam_search(toy, src[:1], src_len[:1], max_len=2, beam_size=2)
    assert greedy.tokens[0].tolist() == [4, 2] and beam.tokens[0].tolist() == [5, 2]
    assert beam.scores[0] > greedy.scores[0]


@pytest.mark.parametrize("score", ["additive", "dot product"])
def test_tiny_model_memorises_eight_pairs(score: str) -> None:
    task = make_dates(n_train=8, n_valid=1, n_test=1, seed=0)
    set_seed(0)
    attention = (
        AdditiveAttention(32, query_size=32, key_size=32)
        if score == "additive"
        else DotProductAttention()
    )
    m = Seq2Seq(
        Seq2SeqEncoder(len(task.src_vocab), 16, 32),
        Seq2SeqDecoder(len(task.tgt_vocab), 16, 32, attention=attention),
    )

    def forward(model, b):
        src, src_len, tgt = b
        return model(src, src_len, decoder_inputs(tgt)), tgt

    history = train(
        m,
        task.train.tensors,
        forward,
        epochs=150,
        batch_size=8,
        lr=0.01,
        pad_index=PAD,
        live=False,
    )
    assert history.epoch_loss[-1] < history.epoch_loss[0] / 20
    out = predict(
        m,
        task.train.src,
        task.train.src_len,
        task.tgt_vocab,
        max_len=task.max_target_len,
    )
    assert out == list(task.train.targets)


# ------------------------------------------------------------- translate()
@pytest.fixture(scope="module")
def date_model():
    task = make_dates(n_train=50, n_valid=5, n_test=5, seed=0)
    torch.manual_seed(0)
    m = Seq2Seq(
        Seq2SeqEncoder(len(task.src_vocab), 8, 16),
        Seq2SeqDecoder(
            len(task.tgt_vocab),
            8,
            16,
            attention=AdditiveAttention(16, query_size=16, key_size=16),
        ),
    )
    return m, task


def test_translate_returns_the_output_and_its_alignment(date_model) -> None:
    m, task = date_model
    result = translate(m, task, "March 7, 2023")
    assert isinstance(result.output, str) and result.unknown == []
    assert result.attention.shape == (
        len(result.output_tokens),
        len("March 7, 2023"),
    )
    torch.testing.assert_close(
        result.attention.sum(-1), torch.ones(len(result.output_tokens))
    )
    beam = translate(m, task, "March 7, 2023", beam_size=3)
    assert beam.attention is None and isinstance(beam.output, str)


def test_translate_reads_unknown_characters_as_unk(date_model) -> None:
    m, task = date_model
    result = translate(m, task, "7. März 2023")
    assert result.unknown == ["ä", "z"]
    src, _ = task.encode_sources(["7. März 2023"])
    assert int((src == UNK).sum()) == 2


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", ValueError, "empty or blank"),
        (" \t", ValueError, "empty or blank"),
        ("7" * 41, ValueError, "input has 41 characters; at most 40"),
        (None, TypeError, "text must be a str, got NoneType"),
        (["March 7, 2023"], TypeError, "text must be a str, got list"),
    ],
)
def test_translate_bad_input(date_model, text, error, message) -> None:
    m, task = date_model
    with pytest.raises(error, match=message):
        translate(m, task, text)


def test_translate_bad_beam_size(date_model) -> None:
    m, task = date_model
    with pytest.raises(ValueError, match="beam_size"):
        translate(m, task, "March 7, 2023", beam_size=0)


@pytest.mark.parametrize(
    ("src", "src_len", "message"),
    [
        (
            torch.zeros(2, 3, dtype=torch.long) + 4,
            torch.tensor([3, 0]),
            r"lengths must lie in \[1, 3\]",
        ),
        (
            torch.zeros(2, 3, dtype=torch.long) + 4,
            torch.tensor([3, 4]),
            r"lengths must lie in \[1, 3\]",
        ),
        (
            torch.zeros(2, 3, dtype=torch.long) + 4,
            torch.tensor([3]),
            r"shape \(2,\)",
        ),
        (torch.zeros(2, 3) + 4, torch.tensor([3, 3]), "token ids"),
        (torch.zeros(2, 0, dtype=torch.long), torch.tensor([1, 1]), "non-empty"),
    ],
)
def test_encoder_rejects_bad_sources(src, src_len, message) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        model().encoder(src, src_len)


def test_bad_cell_and_max_len() -> None:
    with pytest.raises(ValueError, match="cell must be 'gru' or 'lstm', got 'rnn'"):
        Seq2SeqEncoder(V_SRC, E, H, cell="rnn")  # type: ignore[arg-type]
    src, src_len, _ = batch()
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model(), src, src_len, max_len=0)


def test_bahdanau_encoder_and_one_decoder_step_export_to_onnx(tmp_path) -> None:
    """torch.onnx.export (opset 20) of the encoder (batch of one, symbolic length) and of one decoder step.

    Needs ``onnxscript`` and ``onnxruntime`` (not project dependencies): skipped without them.
    """
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from attnbook.decoding import Memory

    m = model()

    class Encoder(nn.Module):
        def forward(self, src, src_len):
            memory, state = m.encode(src, src_len)
            return memory.outputs, state

    class Step(nn.Module):
        def forward(self, y, state, outputs, src_len):
            return m.decoder.step(y, state, Memory(outputs, src_len))

    S = torch.export.Dim("S", min=2, max=64)
    src, src_len = torch.randint(4, V_SRC, (1, 7)), torch.tensor([7])
    with torch.no_grad():
        outputs, state = Encoder()(src, src_len)
        step_args = (torch.tensor([BOS]), state, outputs, src_len)
        expected = {"encoder": (outputs, state), "step": Step()(*step_args)}
    torch.onnx.export(Encoder(), (src, src_len), tmp_path / "encoder.onnx", opset_version=20,
                      dynamic_shapes=({1: S}, None), dynamo=True)  # fmt: skip
    torch.onnx.export(Step(), step_args, tmp_path / "step.onnx", opset_version=20,
                      dynamic_shapes=(None, None, {1: S}, None), dynamo=True)  # fmt: skip
    for name, args in (("encoder", (src, src_len)), ("step", step_args)):
        session = ort.InferenceSession(str(tmp_path / f"{name}.onnx"))
        got = session.run(
            None,
            {
                i.name: a.numpy()
                for i, a in zip(session.get_inputs(), args, strict=True)
            },
        )
        for g, e in zip(got, expected[name], strict=True):
            torch.testing.assert_close(torch.as_tensor(g), e, rtol=1e-5, atol=1e-5)
    longer = torch.randint(4, V_SRC, (1, 12))
    session = ort.InferenceSession(str(tmp_path / "encoder.onnx"))
    got = session.run(
        None, {"src": longer.numpy(), "src_len": torch.tensor([12]).numpy()}
    )
    with torch.no_grad():
        torch.testing.assert_close(
            torch.as_tensor(got[0]),
            Encoder()(longer, torch.tensor([12]))[0],
            rtol=1e-5,
            atol=1e-5,
        )


def test_xavier_init_is_the_default_and_torch_init_is_kept_on_request() -> None:
    torch.manual_seed(0)
    plain = Seq2SeqDecoder(
        V_TGT, E, H, AdditiveAttention(H, query_size=H, key_size=H), init="torch"
    )
    torch.manual_seed(0)
    xavier = Seq2SeqDecoder(
        V_TGT, E, H, AdditiveAttention(H, query_size=H, key_size=H)
    )
    for (name, p), q in zip(
        plain.named_parameters(), xavier.parameters(), strict=True
    ):
        if name.endswith("bias") or name.startswith("embedding") or "bias_" in name:
            assert torch.equal(p, q), (
                name
            )  # biases and embeddings keep PyTorch's defaults
            continue
        fan_out, fan_in = p.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        largest_q, largest_p = (
            float(q.detach().abs().max()),
            float(p.detach().abs().max()),
        )
        assert 0.5 * bound < largest_q <= bound, name
        assert largest_p <= 1 / fan_in**0.5 + 1e-6 or name.startswith("rnn"), name
    with pytest.raises(ValueError, match="init"):
        Seq2SeqEncoder(V_SRC, E, H, init="normal")  # type: ignore[arg-type]


def test_alignment_explorer_draws_each_translation_at_its_own_size(
    date_model,
) -> None:
    m, task = date_model
    texts = ["March 7, 2023", "6/24/98"]
    explorer = alignment_explorer(m, task, texts, row_title="output character")
    for text in texts:
        explorer.select(example=text)
        result = translate(m, task, text)
        np.testing.assert_allclose(
            explorer.frame, result.attention.numpy(), rtol=0, atol=1e-3
        )  # the explorer keeps float16
    assert explorer.row_title == "output character"


def test_alignment_explorer_bad_input(date_model) -> None:
    m, task = date_model
    with pytest.raises(ValueError, match="non-empty list"):
        alignment_explorer(m, task, [])
    with pytest.raises(ValueError, match="non-empty list"):
        alignment_explorer(m, task, "March 7, 2023")
    fixed = Seq2Seq(
        Seq2SeqEncoder(len(task.src_vocab), 8, 16),
        Seq2SeqDecoder(len(task.tgt_vocab), 8, 16, attention=None),
    )
    with pytest.raises(ValueError, match="no attention"):
        alignment_explorer(fixed, task, ["March 7, 2023"])
