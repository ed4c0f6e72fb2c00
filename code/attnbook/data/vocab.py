"""A character vocabulary: strings <-> integer ids, with the four special tokens.

Index 0 is ``<pad>`` (fills sequences up to the batch's length), 1 is ``<bos>``
(the first input of a decoder), 2 is ``<eos>`` (ends every target) and 3 is
``<unk>`` (stands for a character never seen in training). Every other token
is one character.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIALS", "Vocab", "pad_batch"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclass(frozen=True)
class Vocab:
    """Characters and their ids; build one with :meth:`Vocab.from_texts`.

    Attributes:
        tokens: id -> token; the first four are :data:`SPECIALS`, then single characters.
    """

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {tuple(self.tokens[:4])}")
        chars = self.tokens[4:]
        bad = [t for t in chars if not isinstance(t, str) or len(t) != 1]
        if bad or len(set(chars)) != len(chars):
            raise ValueError(f"after the specials, tokens must be distinct single characters; offending: {bad[:5]}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocab:
        """Every character that occurs in ``texts``, in sorted order, after the specials."""
        chars: set[str] = set()
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
            chars.update(text)
        return cls(SPECIALS + tuple(sorted(chars)))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and len(char) == 1 and char in self._index

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str, *, eos: bool = False, strict: bool = False) -> list[int]:
        """Ids of the characters of ``text`` (plus ``<eos>`` if asked).

        Unknown characters become ``<unk>`` (id 3), or raise ``ValueError`` when
        ``strict=True``. An empty string raises ``ValueError``: nothing to encode.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text is empty; expected at least one character")
        if strict and (missing := self.unknown(text)):
            raise ValueError(f"characters not in the vocabulary: {missing!r} (in {text!r})")
        ids = [self._index.get(c, UNK) for c in text]
        return ids + [EOS] if eos else ids

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """The string spelled by ``ids``, stopping at the first ``<eos>``; ``<pad>``/``<bos>`` are dropped.

        ``<unk>`` is written as the Unicode replacement character U+FFFD.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of size {len(self.tokens)}")
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append("\ufffd" if i == UNK else self.tokens[i])
        return "".join(out)


def pad_batch(sequences: Sequence[Sequence[int]], pad: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack id lists of different lengths into ``(N, T_max)`` (right-padded) and their lengths ``(N,)``."""
    if len(sequences) == 0:
        raise ValueError("need at least one sequence to pad")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("sequences must not be empty")
    width = int(lengths.max())
    out = torch.tensor([list(s) + [pad] * (width - len(s)) for s in sequences], dtype=torch.long)  # (N, T_max)
    return out, lengths
