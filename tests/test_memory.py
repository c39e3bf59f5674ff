"""Memory start-up freed goes back to the system (yixiang.memory), here on glibc."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
from yixiang.memory import release_freed

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

chunks = [bytes(4000) + bytes([i % 256]) for i in range(20_000)]  # ~80 MB from malloc's heap
keep = bytes(4000) + b"x"  # above them: the heap's top is not free, so free() keeps the pages
del chunks
before = rss_mb()
trimmed = release_freed()
print(trimmed, before, rss_mb())
"""


def test_memory_freed_after_start_up_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    trimmed, before, after = out.split()
    assert trimmed == "True"
    assert float(before) - float(after) > 50, out
