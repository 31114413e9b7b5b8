"""A BERT WordPiece tokenizer's tokens of plain-ASCII texts, counted by words instead of
tokenizing each text whole: the static tier needs only how many times each text holds each
token (its vector is a sum of rows), and tokenizing was most of its time in the chunking
workers.

A BERT tokenizer lowercases a plain text, splits it into words (runs of letters and digits,
and each punctuation character alone; whitespace goes) and cuts each word into word pieces on
its own. So a text's tokens are its words' tokens, in order: a regular expression finds the
words, a `Counter` counts them, and each distinct word is tokenized once per process (by the
tokenizer itself, so its pieces, its unknown token past `max_input_chars_per_word` and its
prefix are the tokenizer's). A chunk repeats its words (`self`, `(`, its names): a third of
its words are distinct, and most of those were seen in earlier chunks.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Text a BERT normaliser changes only by lowercasing it: printable ASCII, tabs and newlines (no
# accents to strip, no Chinese to space out, no control character to drop; its whitespace
# becomes spaces, which the BERT pre-tokeniser splits on all the same).
PLAIN = re.compile(r"[\t\n\r\x20-\x7e]*")
# The BERT pre-tokeniser's words in PLAIN text: every printable ASCII character that is not a
# letter, digit or space is punctuation to it, a word of its own.
WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
CACHE_WORDS = 200_000  # distinct words a process remembers (tens of MB); past it, it starts again
# A word's case boundaries: `isTerminal` -> `is Terminal`, `XMLHttpRequest` -> `XML Http Request`.
CASE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def split_case(text: str) -> str:
    """The text with its camelCase and PascalCase identifiers split into their words, as a model
    trained on English reads them best (`is Terminal`: two whole word pieces, not `ist ##er ##mina
    ##l`)."""
    return CASE_BOUNDARY.sub(" ", text)


@dataclass(frozen=True)
class TokenCounts:
    """How many times each text holds each token id: parallel arrays, sorted by text (its
    index in the texts given), then token id. A text with no token has no entry."""

    texts: np.ndarray
    ids: np.ndarray
    counts: np.ndarray


def tally(owners: list[np.ndarray], ids: list[np.ndarray], weights: list[np.ndarray]) -> TokenCounts:
    """(text, token id, how many) for occurrences given in any order, each with a weight."""
    owner, token, weight = (np.concatenate(parts) if parts else np.zeros(0, np.int64)
                            for parts in (owners, ids, weights))
    if not len(token):
        return TokenCounts(owner, token, weight)
    span = int(token.max()) + 1
    keys, where = np.unique(owner * span + token, return_inverse=True)
    counts = np.bincount(where.reshape(-1), weights=weight, minlength=len(keys)).astype(np.int64)
    return TokenCounts(keys // span, keys % span, counts)


class Words:
    """The word cache of one tokenizer, and the counting of the texts it takes (`takes`)."""

    def __init__(self, tokenizer: Any, *, lowercase: bool, added: tuple[str, ...], split: bool = False) -> None:
        self._tokenizer = tokenizer  # lowercasing alone, no truncation: one word at a time
        self._lowercase = lowercase
        # Case boundaries lie inside a word (a run of letters and digits): a text split at them
        # holds its words' split pieces, in order, so each distinct word (its case kept) is split
        # once, when it is learnt, not every text whole (a regular expression's pass over every
        # character was 0.27 s per 3 MB of chunks).
        self._split = split
        self._added = added  # matched in the raw text before the words are split: tokenized whole
        self._index: dict[str, int] = {}
        self._starts = self._lengths = self._ids = np.zeros(0, np.int64)

    @classmethod
    def of(cls, tokenizer: Any, text: str, config: dict[str, Any], *, split: bool = False) -> Words | None:
        """The counter for a BERT WordPiece tokenizer (normaliser, pre-tokeniser and model all
        BERT's), else None. `text` is its file's JSON, `config` that JSON parsed; `split`: texts
        are read split at case boundaries (`split_case`)."""
        from tokenizers import Tokenizer, normalizers

        normaliser = config.get("normalizer") or {}
        if (normaliser.get("type") != "BertNormalizer" or (config.get("model") or {}).get("type") != "WordPiece"
                or (config.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer"):
            return None
        words = Tokenizer.from_str(text)
        lowercase = bool(normaliser.get("lowercase"))
        words.normalizer = normalizers.Lowercase() if lowercase else normalizers.Sequence([])
        words.no_truncation()
        words.no_padding()
        added = tuple(token.content.lower() for token in tokenizer.get_added_tokens_decoder().values())
        return cls(words, lowercase=lowercase, added=added, split=split)

    def takes(self, text: str) -> bool:
        """Whether `count` gives this text's tokens: PLAIN, and no added token (`[PAD]`) in it."""
        if PLAIN.fullmatch(text) is None:
            return False
        lowered = text.lower()
        return not any(token in lowered for token in self._added)

    def count(self, texts: list[str], limits: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """For each limit, (text, token id, how many) of each text's first `limit` tokens, texts that
        `takes` alone; unsorted, a token may come more than once for a text (see `tally`). The
        texts' words are found, counted and learnt once for every limit; a limit below the
        largest (the static tier's lead) is read from each text's first words in order, as
        nearly every text is longer than it (counting its words first was wasted there)."""
        # Split words keep their case until they are learnt (their pieces are the lowercased split's).
        lower = self._lowercase and not self._split
        # A word is one token at least, so a text's first `limit` tokens lie in its first `limit`
        # words: the rest are not counted.
        most = max(limits, default=0)
        words = [WORD.findall(text.lower() if lower else text)[:most] for text in texts]
        counted = [Counter(found) for found in words]
        self._learn(set().union(*counted))
        every = np.arange(len(words), dtype=np.int64)
        return [self._count(words, counted, limit) if limit == most
                else self._first(every, [found[:limit] for found in words], limit) for limit in limits]

    def _count(self, words: list[list[str]], counted: list[Counter[str]], limit: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text, token id, how many) of the texts' first `limit` tokens, from their first `limit`
        words (`words`, learnt) and how many times each holds each (`counted`)."""
        index, order, counts, sizes = self._index, [], [], []
        for each in counted:
            order.extend(map(index.__getitem__, each))
            counts.extend(each.values())
            sizes.append(len(each))
        word = np.array(order, dtype=np.int64)
        count = np.array(counts, dtype=np.int64)
        owner = np.repeat(np.arange(len(words), dtype=np.int64), sizes)
        is_long = np.bincount(owner, weights=count * self._lengths[word], minlength=len(words)) > limit
        if not is_long.any():
            return self._pieces(owner, word, count)
        short = ~is_long[owner]
        kept = self._pieces(owner[short], word[short], count[short])
        long = np.flatnonzero(is_long)
        first = self._first(long, [words[i] for i in long], limit)
        return (np.concatenate([kept[0], first[0]]), np.concatenate([kept[1], first[1]]),
                np.concatenate([kept[2], first[2]]))

    def _first(self, texts: np.ndarray, words: list[list[str]], limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text, token id, 1) of the first `limit` tokens of these texts (`texts`, their indexes;
        `words`, each one's words in order, learnt), in order: all texts at once (one at a time,
        the static tier's first 32 tokens of a chunk cost as much as its whole count). A text
        with no word has no token."""
        sizes = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        word = np.fromiter(map(self._index.__getitem__, itertools.chain.from_iterable(words)), dtype=np.int64,
                           count=int(sizes.sum()))
        lengths = self._lengths[word]
        starts = np.cumsum(lengths) - lengths  # each word's first token, counted over all the texts
        worded = sizes > 0
        at = starts - np.repeat(starts[(np.cumsum(sizes) - sizes)[worded]], sizes[worded])  # ... and within its text
        begun = at < limit  # the words whose first token is within the limit
        owner, ids, _ = self._pieces(np.repeat(texts, sizes)[begun], word[begun], np.ones(int(begun.sum()), np.int64))
        taken = lengths[begun]
        # Each token's place in its text: its word's first token's place, plus its place in its word.
        place = np.repeat(at[begun], taken) + np.arange(len(ids)) - np.repeat(np.cumsum(taken) - taken, taken)
        within = place < limit
        return owner[within], ids[within], np.ones(int(within.sum()), dtype=np.int64)

    def _learn(self, words: set[str]) -> None:
        """Tokenize the words not seen yet (all of them again once the cache is full)."""
        new = words.difference(self._index)
        if len(self._index) + len(new) > CACHE_WORDS:
            self._index, new = {}, words
            self._starts = self._lengths = self._ids = np.zeros(0, np.int64)
        if not new:
            return
        fresh = list(new)
        read = [split_case(word) for word in fresh] if self._split else fresh
        pieces = [e.ids for e in self._tokenizer.encode_batch(read, add_special_tokens=False)]
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        self._index.update(zip(fresh, range(len(self._index), len(self._index) + len(fresh)), strict=True))
        self._starts = np.concatenate([self._starts, len(self._ids) + np.cumsum(lengths) - lengths])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._ids = np.concatenate([self._ids, np.fromiter((i for p in pieces for i in p), dtype=np.int64,
                                                            count=int(lengths.sum()))])

    def _pieces(self, owner: np.ndarray, word: np.ndarray, count: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each (text, word, count) as its word's tokens, in order: (text, token id, count)."""
        lengths = self._lengths[word]
        ends = np.cumsum(lengths)
        at = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(self._starts[word] - ends + lengths,
                                                                                     lengths)
        return np.repeat(owner, lengths), self._ids[at], np.repeat(count, lengths)
