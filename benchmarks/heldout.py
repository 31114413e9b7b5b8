"""Marks a fifth of the new questions in questions.toml as held out (`heldout = true`): never
tuned on, reported apart. Run after adding questions:

    python benchmarks/heldout.py

Only questions without a `heldout` line are marked (every question gets one), so a question
once tuned on never becomes held out. The new ones are ordered by project, kind and a seeded
hash of their text, and every fifth is held out, starting at a seeded place: each project and
kind gets a fifth of its new questions (rounded one way or the other), and which ones is
chance, not choice.
"""

from __future__ import annotations

import hashlib
import re
import tomllib

from tasks import QUESTIONS

SEED = b"codeseek-questions-1"
SHARE = 5  # one in five


def _rank(query: str) -> str:
    return hashlib.blake2b(SEED + query.encode(), digest_size=8).hexdigest()


def main() -> None:
    text = QUESTIONS.read_text()
    blocks = re.split(r"(?m)^(?=\[\[question\]\]\n)", text)
    parsed = [tomllib.loads(b)["question"][0] if b.startswith("[[question]]") else None for b in blocks]
    new = [i for i, q in enumerate(parsed) if q is not None and "heldout" not in q]
    new.sort(key=lambda i: (parsed[i]["corpus"], parsed[i]["kind"], _rank(parsed[i]["query"])))
    start = int(hashlib.blake2b(SEED, digest_size=8).hexdigest(), 16) % SHARE
    held = {i for n, i in enumerate(new) if n % SHARE == start}
    for i in new:
        blocks[i] = re.sub(r"(?m)^(query = .*)$", lambda m, i=i: f"{m.group(1)}\nheldout = {str(i in held).lower()}",
                           blocks[i], count=1)
    QUESTIONS.write_text("".join(blocks))
    print(f"{len(new)} new questions, {len(held)} held out")


if __name__ == "__main__":
    main()
