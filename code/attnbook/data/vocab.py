"""A vocabulary: strings <-> integer ids, with the four special tokens.

Index 0 is ``<pad>`` (fills sequences up to the batch's length), 1 is ``<bos>``
(the first input of a decoder), 2 is ``<eos>`` (ends every target) and 3 is
``<unk>`` (stands for a token never seen in training). Every other token is
one character (``sep=""``, the default: the date task of chapter 4) or one
word of a text whose words are separated by single spaces (``sep=" "``: the
sentence pairs of chapter 7).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "SplitTensors",
    "Vocab",
    "check_texts",
    "pad_batch",
]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclass(frozen=True)
class Vocab:
    """Tokens and their ids; build one with :meth:`Vocab.from_texts`.

    Attributes:
        tokens: id -> token; the first four are :data:`SPECIALS`, then single
            characters (``sep=""``) or words without whitespace (``sep=" "``).
        sep: ``""`` -- a text is a sequence of characters; ``" "`` -- a text is a
            sequence of words separated by whitespace, and decoding joins them
            with single spaces.
    """

    tokens: tuple[str, ...]
    sep: str = ""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[:4]) != SPECIALS:
            raise ValueError(
                f"a vocabulary must start with {SPECIALS}, got {tuple(self.tokens[:4])}"
            )
        if self.sep not in ("", " "):
            raise ValueError(
                f"sep must be '' (characters) or ' ' (words), got {self.sep!r}"
            )
        rest = self.tokens[4:]
        if self.sep == "":
            bad = [t for t in rest if not isinstance(t, str) or len(t) != 1]
            if bad or len(set(rest)) != len(rest):
                raise ValueError(
                    f"after the specials, tokens must be distinct single characters; offending: {bad[:5]}"
                )
        else:
            bad = [
                t
                for t in rest
                if not isinstance(t, str)
                or not t
                or t.split() != [t]
                or t in SPECIALS
            ]
            if bad or len(set(rest)) != len(rest):
                raise ValueError(
                    f"after the specials, tokens must be distinct words without whitespace; offending: {bad[:5]}"
                )
        object.__setattr__(
            self, "_index", {t: i for i, t in enumerate(self.tokens)}
        )

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, sep: str = "") -> Vocab:
        """Every character (``sep=""``) or word (``sep=" "``) that occurs in ``texts``, sorted, after the specials."""
        if sep not in ("", " "):
            raise ValueError(
                f"sep must be '' (characters) or ' ' (words), got {sep!r}"
            )
        if isinstance(texts, str):
            raise TypeError(
                f"texts must be a list of strings, got one str ({texts[:20]!r}...)"
            )
        found: set[str] = set()
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
            found.update(text.split() if sep else text)
        return cls(SPECIALS + tuple(sorted(found)), sep)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        if self.sep == "":
            return (
                isinstance(token, str) and len(token) == 1 and token in self._index
            )
        return (
            isinstance(token, str)
            and token not in SPECIALS
            and token in self._index
        )

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``: its characters, or its whitespace-separated words."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return text.split() if self.sep else list(text)

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(
            dict.fromkeys(c for c in self.split(text) if c not in self._index)
        )

    def encode(
        self, text: str, *, eos: bool = False, strict: bool = False
    ) -> list[int]:
        """Ids of the tokens of ``text`` (plus ``<eos>`` if asked).

        Unknown tokens become ``<unk>`` (id 3), or raise ``ValueError`` when
        ``strict=True``. A text without tokens raises ``ValueError``: nothing to encode.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tokens = self.split(text)
        if not tokens:
            raise ValueError(
                f"text is empty; expected at least one {'word' if self.sep else 'character'}"
            )
        if strict and (missing := self.unknown(text)):
            what = "words" if self.sep else "characters"
            raise ValueError(
                f"{what} not in the vocabulary: {missing!r} (in {text!r})"
            )
        ids = [self._index.get(c, UNK) for c in tokens]
        return ids + [EOS] if eos else ids

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """The string spelled by ``ids``, stopping at the first ``<eos>``; ``<pad>``/``<bos>`` are dropped.

        ``<unk>`` is written as the Unicode replacement character U+FFFD
        (characters) or as ``<unk>`` (words).
        """
        if isinstance(ids, torch.Tensor):
            if (
                ids.dim() != 1
                or ids.is_floating_point()
                or ids.is_complex()
                or ids.dtype == torch.bool
            ):
                raise ValueError(
                    f"ids must be a 1-D integer tensor (one sequence), got {ids.dtype} {tuple(ids.shape)}"
                )
            ids = ids.tolist()
        elif isinstance(ids, str):
            raise TypeError("ids must be a sequence of int token ids, got a str")
        out = []
        for i in ids:
            if not isinstance(i, numbers.Integral) or isinstance(i, bool):
                raise TypeError(
                    f"ids must be int token ids, got {type(i).__name__} {i!r}"
                )
            if not 0 <= i < len(self.tokens):
                raise ValueError(
                    f"id {i} is outside the vocabulary of size {len(self.tokens)}"
                )
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(
                ("<unk>" if self.sep else "\ufffd") if i == UNK else self.tokens[i]
            )
        return self.sep.join(out)


def pad_batch(
    sequences: Sequence[Sequence[int]], pad: int = PAD
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack id lists of different lengths into ``(N, T_max)`` (right-padded) and their lengths ``(N,)``."""
    if isinstance(sequences, str) or len(sequences) == 0:
        raise ValueError(
            f"need a non-empty list of id sequences to pad, got {sequences!r}"[:200]
        )
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("sequences must not be empty")
    width = int(lengths.max())
    out = torch.tensor(
        [list(s) + [pad] * (width - len(s)) for s in sequences], dtype=torch.long
    )  # (N, T_max)
    return out, lengths


def check_texts(texts: Sequence[str]) -> Sequence[str]:
    """Raise unless ``texts`` is a non-empty list of strings (what a task's ``encode_sources`` takes)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(
            f"texts must be a list of strings, got {type(texts).__name__}"
        )
    if len(texts) == 0:
        raise ValueError("texts is empty; expected at least one string")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"every text must be a str, got {type(text).__name__}")
    return texts


class SplitTensors:
    """What the translation splits share: their size and the ``(src, src_len, tgt)`` a training step needs.

    Mixed into dataclasses with ``sources``, ``src``, ``src_len`` and ``tgt`` fields.
    """

    sources: tuple[str, ...]
    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(src, src_len, tgt)``: what a training step needs."""
        return self.src, self.src_len, self.tgt
