"""What the command line, the HTTP API and MCP do with input a user (or an attacker) types:
odd bytes, aliases, bad globs, file names with newlines, usage mistakes, deep nesting; and
the words they answer with (issue 26: items 12, 13, 16, 26-30)."""

from __future__ import annotations

import time

from codeseek.parsing import chunk_file


def _seconds(path: str, text: str) -> float:
    """The least of three runs of chunking a file (the least is the least disturbed)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        chunk_file(path, text.encode())
        best = min(best, time.perf_counter() - began)
    return best


def test_deeply_nested_code_is_chunked_in_linear_time() -> None:
    n = 3000  # on the quadratic chunker: 4 s against 0.1 s for the flat file
    nested = "".join(f"function f{i}() {{\n" for i in range(n)) + "return 1;\n" + "}\n" * n
    flat_count = len(nested) // len("function f0000() {\nreturn 1;\n}\n")
    flat = "".join(f"function f{i}() {{\nreturn 1;\n}}\n" for i in range(flat_count))
    assert abs(len(flat) - len(nested)) < len(nested) // 5  # files of about the same size
    chunks = chunk_file("deep.js", nested.encode())
    assert [c.symbol for c in chunks[:2]] == ["f0", "f0.f1"] and len(chunks) == 16  # the nesting bound
    assert _seconds("deep.js", nested) < 3 * _seconds("flat.js", flat) + 0.05
