"""The results table's ``eval_set`` column: older stores are migrated in place, in-domain reads stay as they were."""

from __future__ import annotations

import json
import sqlite3

from calibench.store.db import Store

#: the results table as calibench wrote it before extra evaluation sets existed
OLD_RESULTS = """
CREATE TABLE results (
  key TEXT PRIMARY KEY, training_key TEXT NOT NULL, prediction_key TEXT NOT NULL, task TEXT NOT NULL,
  method TEXT NOT NULL, seed INTEGER NOT NULL, model TEXT NOT NULL, fingerprint TEXT NOT NULL,
  record TEXT NOT NULL, created REAL NOT NULL
);
"""


def _record(key: str, **extra: object) -> dict:
    return {
        "key": key,
        "training_key": "t",
        "prediction_key": "p",
        "task": "rte",
        "method": "baseline",
        "seed": 0,
        "model": "minilm",
        "fingerprint": "f",
        **extra,
    }


def test_an_old_store_is_migrated_and_reads_as_in_domain(tmp_path):
    conn = sqlite3.connect(tmp_path / Store.DB_NAME)
    conn.executescript(OLD_RESULTS)
    conn.execute(
        "INSERT INTO results VALUES ('old', 't', 'p', 'rte', 'baseline', 0, 'minilm', 'f', ?, 0)",
        (json.dumps(_record("old")),),
    )
    conn.commit()
    conn.close()
    store = Store(tmp_path)
    assert [r["key"] for r in store.results()] == ["old"]  # the in-domain test half
    store.put_result("new", _record("new", eval_set="shift-qnli"))
    assert [r["key"] for r in store.results()] == ["old"]
    assert [r["key"] for r in store.results(eval_set="extra")] == ["new"]
    assert [r["key"] for r in store.results(eval_set="shift-qnli")] == ["new"]
    assert sorted(r["key"] for r in store.results(eval_set=None)) == ["new", "old"]
    store.close()
    again = Store(tmp_path)  # idempotent
    assert len(again.results(eval_set=None)) == 2
    cols = [r[1] for r in sqlite3.connect(tmp_path / Store.DB_NAME).execute("PRAGMA table_info(results)")]
    assert cols.count("eval_set") == 1
