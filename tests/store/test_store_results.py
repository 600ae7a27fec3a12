"""`calibench results` warns about a stored value that its recomputation contradicts, as the leaderboard does."""

from __future__ import annotations

import json
import sqlite3

from calibench.cli import main
from calibench.store.db import Store


def test_an_edited_metric_value_is_warned_about(store_copy, capsys):
    conn = sqlite3.connect(store_copy / Store.DB_NAME)
    key, record = conn.execute("SELECT key, record FROM results WHERE method='baseline' AND seed=0").fetchone()
    record = json.loads(record)
    record["metrics"]["ece"]["value"] = 0.001  # a hand-edited number
    conn.execute("UPDATE results SET record=? WHERE key=?", (json.dumps(record), key))
    conn.commit()
    conn.close()
    assert main(["results", "-o", str(store_copy)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: stored value differs from its recomputation" in err and "ece" in err


def test_an_untouched_store_gets_no_warning(store_copy, capsys):
    assert main(["results", "-o", str(store_copy)]) == 0
    assert "warning" not in capsys.readouterr().err
