"""Qwen3-Embedding-4B where its weights cannot be downloaded: the real architecture, built
from its config with random bf16 weights, and Qwen's own byte-level BPE vocabulary, so that
token counts and the work per token are the real model's. Vectors from it mean nothing.

The vocabulary comes from the `qwen.tiktoken` data file in dashscope's wheel (Apache-2.0),
read from the downloaded wheel: dashscope itself is never installed.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
import zipfile
from pathlib import Path

DASHSCOPE = "dashscope==1.25.11"
# Qwen3-Embedding-4B's config.json, as published with the model.
QWEN3_4B = {
    "vocab_size": 151665, "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 32768,
    "rope_theta": 1000000, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
}
# Qwen2/3's pre-tokenizer: like cl100k's, but digits one at a time.
PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 151643, 151644, 151645


def qwen_ranks() -> dict[bytes, int]:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["python3", "-m", "pip", "download", "-q", "--no-deps", DASHSCOPE, "-d", scratch], check=True)
        wheel = next(Path(scratch).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            data = z.read("dashscope/resources/qwen.tiktoken")
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


def save_tokenizer(out: Path) -> None:
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = qwen_ranks()

    class Converter(TikTokenConverter):
        @staticmethod
        def load_tiktoken_bpe(_: str) -> dict[bytes, int]:
            return ranks

    converted = Converter(vocab_file="qwen.tiktoken", pattern=PATTERN, extra_special_tokens=SPECIAL).converted()
    fast = PreTrainedTokenizerFast(tokenizer_object=converted, eos_token=SPECIAL[0], pad_token=SPECIAL[0])
    assert fast.convert_tokens_to_ids(SPECIAL[0]) == 151643
    fast.save_pretrained(out)


def save_random_model(tokenizer: Path, out: Path, device: str = "cuda") -> None:
    """The 4B architecture with random bf16 weights, saved like a hub checkout (about 8 GB)."""
    import shutil

    import torch
    from transformers import Qwen3Config, Qwen3Model

    with torch.device(device):
        model = Qwen3Model(Qwen3Config(**QWEN3_4B)).to(torch.bfloat16)
    model.save_pretrained(out)
    for f in tokenizer.iterdir():
        shutil.copy(f, out / f.name)
    del model


if __name__ == "__main__":
    import sys

    save_tokenizer(Path(sys.argv[1]))
