"""One process's memory (yixiang.memory), here on glibc: freed memory goes back to the system,
threads share malloc's arenas, and the API process loads only what it serves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


ARENAS_PROBE = """
import sys, threading
from yixiang.memory import limit_arenas

if sys.argv[1] == "limited":
    assert limit_arenas()
ready = threading.Barrier(9)

def work():
    held = [bytearray(1000) for _ in range(1000)]  # above pymalloc's 512 bytes: malloc's
    ready.wait()  # all alive at once: an exited thread's arena goes to the next thread

threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
ready.wait()
heaps = 0  # a thread arena's heap: an anonymous mapping aligned on 64 MB (HEAP_MAX_SIZE)
for line in open("/proc/self/maps"):
    fields = line.split()
    if len(fields) == 5 and fields[1] == "rw-p" and int(fields[0].split("-")[0], 16) % (64 << 20) == 0:
        heaps += 1
print(heaps)
for thread in threads:
    thread.join()
"""


def test_threads_share_two_malloc_arenas_instead_of_one_each():
    # aiosqlite's thread per pooled connection each grew its own arena: ~70 MB under load
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def thread_heaps(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS_PROBE, mode], capture_output=True, text=True, env=env, check=True
        )
        return int(done.stdout)

    assert thread_heaps("unlimited") >= 4  # the probe sees the arenas glibc gives threads
    assert thread_heaps("limited") <= 1  # the main arena and one more


@pytest.mark.slow
def test_an_api_process_leaves_the_pdf_mqtt_and_qr_code_libraries_unloaded(tmp_path):
    # reportlab, aiomqtt and segno: ~15 MB in every API process for what only the yearly report,
    # the ingest role and the desktop payment page use
    probe = (
        "import sys; from yixiang.app import create_app; create_app(); "
        "print(','.join(sorted(m for m in ('reportlab', 'aiomqtt', 'paho', 'segno') if m in sys.modules)))"
    )
    env = {**os.environ, "YIXIANG_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
