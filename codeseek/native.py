"""One C++ runtime for the native extensions that share a process.

usearch's extension carries its own static copy of libstdc++. Loaded first, it makes ONNX
Runtime, which links the system's libstdc++ and loads later (when the default model is
first needed), crash in std::codecvt while it initialises. Making the system libstdc++
global before usearch loads keeps one runtime for both (tests/test_onnx_engine.py runs the
two in that order in a fresh process).
"""

from __future__ import annotations

import ctypes
import os
import sys

_done = False


def share_cxx_runtime() -> None:
    """Load the system libstdc++ with global symbols, once, where there is one (Linux)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        ctypes.CDLL("libstdc++.so.6", mode=os.RTLD_GLOBAL)
    except OSError:
        pass  # no system libstdc++: nothing here links it, so there is nothing to share
