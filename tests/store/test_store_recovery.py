"""A damaged SQLite file is named with what survives and a way out, and both ways out work."""

from __future__ import annotations

import json

import pytest

from calibench.cli import main
from calibench.errors import StoreDamaged
from calibench.store.db import Store


def _xor_header(store: Store | None, path) -> None:
    db = path / Store.DB_NAME
    data = bytearray(db.read_bytes())
    for i in range(16):
        data[i] ^= 0x5A
    db.write_bytes(bytes(data))


def _records(path) -> list[dict]:
    s = Store(path, read_only=True)
    try:
        return s.results()
    finally:
        s.close()


def test_a_damaged_database_is_one_line_naming_the_file_and_the_ways_out(store_copy, capsys):
    _xor_header(None, store_copy)
    for argv in (
        ["results", "-o", str(store_copy)],
        ["leaderboard", "-o", str(store_copy)],
        ["check", "-o", str(store_copy)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert str(store_copy / Store.DB_NAME) in err and "is damaged" in err
        assert "artifacts" in err and "--rebuild" in err and "--restore" in err  # every run leaves a backup
    with pytest.raises(StoreDamaged):
        Store(store_copy)


def test_rebuild_writes_the_same_results_back_from_the_artifacts(store_copy, capsys):
    before = sorted(_records(store_copy), key=lambda r: r["key"])
    _xor_header(None, store_copy)
    assert main(["check", "-o", str(store_copy), "--rebuild"]) == 0
    out = capsys.readouterr().out
    assert f"{len(before)} result(s)" in out and "damaged-" in out
    assert sorted(_records(store_copy), key=lambda r: r["key"]) == before
    assert list(store_copy.glob(f"{Store.DB_NAME}.damaged-*"))  # the damaged file is kept
    # the rebuilt index is complete: a rerun would train nothing (every training is done with its predictions)
    s = Store(store_copy, read_only=True)
    assert s.integrity_check() == [] and {t["status"] for t in s.trainings()} == {"done"}
    s.close()


def test_restore_puts_back_the_backup_of_the_last_run(store_copy, capsys):
    before = _records(store_copy)
    assert (store_copy / Store.BACKUP_NAME).is_file()
    _xor_header(None, store_copy)
    assert main(["check", "-o", str(store_copy), "--restore"]) == 0
    assert json.dumps(_records(store_copy), sort_keys=True) == json.dumps(before, sort_keys=True)
