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

from ..errors import CodeseekError


class Tokens:
    """A tokenizer.json that truncates to `max_tokens`, special tokens included."""

    def __init__(self, path: Path, max_tokens: int) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise CodeseekError(f"cannot import tokenizers ({exc}): `pip install tokenizers`") from None
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
            raise CodeseekError(f"cannot read the tokenizer {path}: {exc}") from None
        # The file may carry its own padding (all-MiniLM-L6-v2's pads every text to 128).
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens

    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def unknown_id(self) -> int | None:
        """The id of the tokenizer's unknown token, if its model names one."""
        token = json.loads(self._tokenizer.to_str()).get("model", {}).get("unk_token")
        return self._tokenizer.token_to_id(token) if isinstance(token, str) else None

    def encode(self, texts: Sequence[str], *, special: bool = True) -> list[list[int]]:
        """Token ids of each text, truncated, with [CLS] and [SEP] unless `special` is False."""
        return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=special)]

