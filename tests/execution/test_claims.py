"""Claims under real concurrency and after crashes: the store-level guarantees the driver relies on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from calibench.store.artifacts import ArtifactStore
from calibench.store.db import Store, row_state
from calibench.store.owners import HOST, Owner, owner_known_dead, process_alive, process_start

CLAIM_AND_WAIT = """
import sys
from calibench.store.db import Store, default_owner
store = Store(sys.argv[1])
owner = default_owner()
assert store.claim("job", {}, owner, lease_s=3600)
print(owner, flush=True)
sys.stdin.readline()  # hold the claim until told (or killed)
"""

CLAIM_MANY = """
import sys
from calibench.store.db import Store, default_owner
store, owner = Store(sys.argv[1]), default_owner()
keys = [f"k{i}" for i in range(int(sys.argv[2]))]
if int(sys.argv[3]) % 2:
    keys.reverse()
for key in keys:
    if store.claim(key, {}, owner, expect=(0, None)):
        print(key, flush=True)
"""


def _python(code: str, *args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, stdout=subprocess.PIPE, **kw)


def test_owner_tokens_name_a_process_and_detect_its_death():
    me = Owner.current()
    assert Owner.parse(str(me)) == me and me.host == HOST and me.pid == os.getpid()
    assert not me.known_dead()
    assert Owner.parse("A") is None and not owner_known_dead("A")  # unknown formats are never judged dead
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start(child.pid)
    assert process_alive(child.pid, start)
    assert not process_alive(child.pid, start + 1)  # same pid, other start time: a reused pid
    child.kill()
    deadline = time.time() + 10
    while process_alive(child.pid, start) and time.time() < deadline:  # a zombie until reaped: dead already
        time.sleep(0.05)
    assert not process_alive(child.pid, start)
    child.wait()
    assert owner_known_dead(f"{HOST}:{child.pid}:{start}:abcdef")
    assert not owner_known_dead(f"some-other-host:{child.pid}:{start}:abcdef")  # cannot tell: trust the lease


def test_a_killed_owner_is_retaken_at_once_and_a_live_one_is_not(tmp_path):
    store = Store(tmp_path)
    holder = _python(CLAIM_AND_WAIT, str(tmp_path), stdin=subprocess.PIPE)
    try:
        owner = holder.stdout.readline().strip()
        assert owner and store.training("job")["owner"] == owner
        assert not store.claim("job", {}, "me")  # a live owner with an hour's lease keeps it
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert store.claim("job", {}, "me")  # no waiting for the hour-long lease
    row = store.training("job")
    assert row["owner"] == "me" and row["attempts"] == 2


def test_claims_are_conditional_and_verdicts_belong_to_the_current_owner(tmp_path):
    store = Store(tmp_path)
    assert not store.claim("t", {}, "A", expect=(1, "running"))  # the caller saw a row that is not there
    assert store.claim("t", {}, "A", lease_s=-1, expect=(0, None))
    assert not store.claim("t", {}, "B", expect=(0, None))  # changed since B looked
    assert store.claim("t", {}, "B", expect=(1, "running"))  # A's lease had expired
    assert not store.renew("t", "A")
    assert not store.finish_training("t", "A", {"r": "A"}, [("p", "deterministic", {}, ["dev"])])
    assert not store.fail_training("t", "A", "boom", "tb")
    row = store.training("t")
    assert row["status"] == "running" and row["owner"] == "B" and row["record"] is None
    assert store.prediction("p") is None
    assert store.renew("t", "B")


def test_a_claim_expecting_a_running_row_refuses_the_same_row_done(tmp_path):
    """Finishing a job leaves its attempt count as it was: the claim must see the status too."""
    store = Store(tmp_path)
    assert store.claim("t", {}, "A")
    seen = row_state(store.training("t"))
    assert store.finish_training("t", "A", {"r": 1}, [])
    assert not store.claim("t", {}, "B", expect=seen)
    assert store.training("t")["status"] == "done" and store.training("t")["attempts"] == 1


def test_release_puts_a_rerun_of_a_done_job_back_to_done(tmp_path):
    store = Store(tmp_path)
    store.claim("t", {}, "A")
    store.artifacts.write("logits", "p", arrays={"dev_logits": np.zeros((2, 2))})
    assert store.finish_training("t", "A", {"r": 1}, [("p", "deterministic", {}, ["dev"])])
    assert store.claim("t", {}, "B")  # re-run to add a prediction
    store.release("t", "B")  # interrupted
    row = store.training("t")
    assert row["status"] == "done" and row["record"] == {"r": 1} and store.integrity_check() == []
    store.claim("u", {}, "B")
    store.release("u", "B")
    assert store.training("u") is None


def test_processes_racing_for_the_same_jobs_each_get_a_job_once(tmp_path):
    Store(tmp_path)  # create the schema once; the racers only claim
    n_jobs, racers = 60, 4
    procs = [_python(CLAIM_MANY, str(tmp_path), str(n_jobs), str(i)) for i in range(racers)]
    won = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    flat = [k for keys in won for k in keys]
    assert sorted(flat) == sorted(f"k{i}" for i in range(n_jobs))  # each job exactly once
    store = Store(tmp_path)
    assert all(row["attempts"] == 1 for row in store.trainings())
    assert store.integrity_check() == []


def test_stale_temporary_artifacts_are_removed_only_when_their_writer_is_dead(tmp_path):
    arts = ArtifactStore(tmp_path)
    arts.write("logits", "ab-done", arrays={"x": np.ones(3)})
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child_start = process_start(child.pid)
    child.wait()
    parent = arts.path("logits", "ab-half").parent
    dead = parent / f".tmp-ab-half@{HOST}@{child.pid}@{child_start}@dead00"
    live = parent / f".tmp-ab-half@{HOST}@{os.getpid()}@{process_start()}@live00"
    foreign_old = parent / ".tmp-ab-half@elsewhere@1@1@old000"
    foreign_new = parent / ".tmp-ab-half@elsewhere@1@1@new000"
    for d in (dead, live, foreign_old, foreign_new):
        d.mkdir(parents=True)
        (d / "x.npy").write_bytes(b"half a file")
    os.utime(foreign_old, (time.time() - 30 * 86400,) * 2)
    removed = set(arts.remove_stale_tmp())
    assert removed == {dead, foreign_old}
    assert live.is_dir() and foreign_new.is_dir()
    assert arts.keys("logits") == ["ab-done"] and arts.verify("logits", "ab-done")


def test_integrity_check_flags_half_written_records(tmp_path):
    store = Store(tmp_path)
    store.claim("t", {}, "A")
    with store._conn() as c:  # what a buggy writer could leave: done, but nothing to point at
        c.execute("UPDATE trainings SET status='done' WHERE key='t'")
    problems = store.integrity_check()
    assert problems == ["training t: done without its record or predictions"]
