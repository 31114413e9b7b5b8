"""The warm process hands freed memory back (memory.py), where the C library is glibc."""

from __future__ import annotations

import pytest

from codeseek import memory


@pytest.mark.skipif(memory._glibc() is None, reason="glibc only")
def test_freed_memory_goes_back_to_the_system() -> None:
    def resident() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1])

    kept = [bytearray(64 << 10) for _ in range(1024)]  # 64 MiB in blocks the heap keeps once freed
    del kept[::2]
    before = resident()
    assert memory.give_back()
    assert resident() < before
    memory.few_heaps()  # allowed at any time; only threads made afterwards are affected
