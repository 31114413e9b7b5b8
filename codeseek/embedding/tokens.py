"""Text to token ids for the models that ship with codeseek, with `tokenizers` alone (no torch,
no transformers): the one place that decides truncation, so every engine built on a shipped
tokenizer.json cuts a text where sentence-transformers cut it.

sentence-transformers tokenizes a BERT model's inputs as `tokenizer(texts, truncation=True,
max_length=N)`: [CLS] + the first N - 2 word pieces + [SEP]. `Tokens.encode` gives exactly
those ids (tests/test_onnx_engine.py compares them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodeseekError
from .wordpiece import PLAIN, TokenCounts, Words, split_case, tally


class Tokens:
    """A tokenizer.json that truncates to `max_tokens`, special tokens included."""

    def __init__(self, path: Path, max_tokens: int, *, split_case: bool = False) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise CodeseekError(f"cannot import tokenizers ({exc}): `pip install tokenizers`") from None
        # The file is read and parsed once for the tokenizer and its two twins (each worker of a
        # first index loads it: three reads and five serialisations were 60 ms of it).
        try:
            text = path.read_text(encoding="utf-8")
            config = json.loads(text)
            self._tokenizer = Tokenizer.from_str(text)
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
            raise CodeseekError(f"cannot read the tokenizer {path}: {exc}") from None
        if not isinstance(config, dict):
            raise CodeseekError(f"cannot read the tokenizer {path}: not a tokenizer's JSON object")
        # The file may carry its own padding (all-MiniLM-L6-v2's pads every text to 128).
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens
        self.split_case = split_case
        unknown = (config.get("model") or {}).get("unk_token")
        self._unknown_id = self._tokenizer.token_to_id(unknown) if isinstance(unknown, str) else None
        self._plain = _plain_twin(text, config, max_tokens)
        self._words = Words.of(self._tokenizer, text, config, split=split_case)

    def _as_read(self, texts: Sequence[str]) -> Sequence[str]:
        """The texts as the model reads them: split at case boundaries where it reads them so."""
        return [split_case(text) for text in texts] if self.split_case else texts

    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def unknown_id(self) -> int | None:
        """The id of the tokenizer's unknown token, if its model names one."""
        return self._unknown_id

    def encode(self, texts: Sequence[str], *, special: bool = True) -> list[list[int]]:
        """Token ids of each text, truncated, with [CLS] and [SEP] unless `special` is False.
        Plain ASCII goes through the twin with the cheaper normaliser (the same ids)."""
        texts = self._as_read(texts)
        if self._plain is None:
            return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=special)]
        plain = [PLAIN.fullmatch(text) is not None for text in texts]
        ids: list[list[int]] = [[] for _ in texts]
        for tokenizer, which in ((self._plain, True), (self._tokenizer, False)):
            chosen = [i for i, p in enumerate(plain) if p is which]
            if chosen:
                encoded = tokenizer.encode_batch([texts[i] for i in chosen], add_special_tokens=special)
                for i, e in zip(chosen, encoded, strict=True):
                    ids[i] = e.ids
        return ids

    def count(self, texts: Sequence[str], limits: Sequence[int] = ()) -> list[TokenCounts]:
        """For each limit (`max_tokens` alone by default; none past it), how many times each text
        holds each token id of its first `limit` in `encode(texts, special=False)`: plain ASCII by
        its words where the tokenizer is BERT's (wordpiece.py: it splits words at their case
        boundaries itself, where this model reads them split), the rest encoded. Each text is
        read once for every limit."""
        limits = [max(0, min(limit, self.max_tokens)) for limit in limits] or [self.max_tokens]
        words = self._words
        counted = [i for i, text in enumerate(texts) if words.takes(text)] if words is not None else []
        parts: list[tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = [([], [], []) for _ in limits]
        if counted:
            assert words is not None
            at = np.asarray(counted, dtype=np.int64)
            for (owners, ids, weights), (owner, token, weight) in zip(
                    parts, words.count([texts[i] for i in counted], limits), strict=True):
                owners.append(at[owner])
                ids.append(token)
                weights.append(weight)
        taken = set(counted)
        rest = [i for i in range(len(texts)) if i not in taken]
        if rest:
            encoded = self.encode([texts[i] for i in rest], special=False)
            at = np.asarray(rest, dtype=np.int64)
            for (owners, ids, weights), limit in zip(parts, limits, strict=True):
                cut = [e[:limit] for e in encoded]
                lengths = np.fromiter(map(len, cut), dtype=np.int64, count=len(cut))
                owners.append(np.repeat(at, lengths))
                ids.append(np.fromiter((i for e in cut for i in e), dtype=np.int64, count=int(lengths.sum())))
                weights.append(np.ones(int(lengths.sum()), dtype=np.int64))
        return [tally(*part) for part in parts]


def _plain_twin(text: str, config: dict[str, Any], max_tokens: int) -> Any:
    """The tokenizer (`text`, its JSON; `config`, parsed), unpadded and truncated as `Tokens`'s,
    with a BERT normaliser replaced by lowercasing alone, for PLAIN text: the same ids, and a
    third of a static vector's time saved (the normaliser decomposes every character to strip
    accents). None where the normaliser is another kind."""
    from tokenizers import Tokenizer, normalizers

    normaliser = config.get("normalizer") or {}
    if normaliser.get("type") != "BertNormalizer":
        return None
    twin = Tokenizer.from_str(text)
    twin.no_padding()
    twin.enable_truncation(max_length=max_tokens)
    twin.normalizer = normalizers.Lowercase() if normaliser.get("lowercase") else normalizers.Sequence([])
    return twin

