"""Two processes that want the same artifact: the second waits for the first's, and a killed
holder blocks no one (the lock is the OS's, released with the process)."""

from __future__ import annotations

import subprocess
import sys
import time

from calibench.store.artifacts import ArtifactStore

HOLD = """
import sys, time
from calibench.store.artifacts import ArtifactStore
with ArtifactStore(sys.argv[1]).building("corpus", "k"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(root, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_builder_waits_until_the_first_is_done(tmp_path):
    proc = _holder(tmp_path, 1.5)
    t0 = time.monotonic()
    with ArtifactStore(tmp_path).building("corpus", "k") as reported:
        waited = time.monotonic() - t0
    proc.wait()
    assert waited > 0.8  # it could not enter while the other process held the key
    assert 0.8 < reported <= waited  # and says how long it waited
    t0 = time.monotonic()
    with ArtifactStore(tmp_path).building("corpus", "other-key") as reported:  # other keys never wait
        assert time.monotonic() - t0 < 0.5 and reported < 0.5


def test_a_killed_holder_releases_the_key(tmp_path):
    proc = _holder(tmp_path, 600)
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    with ArtifactStore(tmp_path).building("corpus", "k"):
        assert time.monotonic() - t0 < 5
