"""Read commands open the store read-only; -o that is a file or cannot be written is one line."""

from __future__ import annotations

import os
import sqlite3

import pytest

from calibench.cli import main
from calibench.errors import StoreError
from calibench.store.db import Store


def _journal_mode(path) -> str:
    conn = sqlite3.connect(path / Store.DB_NAME)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def test_read_commands_write_nothing(store_copy, capsys):
    """WAL mode is persistent in the file: a reader that applied the pragma would leave it behind."""
    conn = sqlite3.connect(store_copy / Store.DB_NAME)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = (store_copy / Store.DB_NAME).read_bytes()
    for argv in (
        ["results"],
        ["leaderboard"],
        ["check"],
        ["export", "--store", str(store_copy), "--output", str(store_copy.parent / "exported")],
    ):
        argv = argv if argv[0] == "export" else [*argv, "-o", str(store_copy)]
        assert main(argv) == 0, capsys.readouterr().err
    assert _journal_mode(store_copy) == "delete"
    assert (store_copy / Store.DB_NAME).read_bytes() == before
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        s = Store(store_copy, read_only=True)
        with s._conn() as c:
            c.execute("DELETE FROM results")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_store_in_a_read_only_folder_can_be_read(store_copy, capsys):
    os.chmod(store_copy / Store.DB_NAME, 0o444)
    os.chmod(store_copy, 0o555)
    try:
        assert main(["results", "-o", str(store_copy)]) == 0
        assert main(["run", "--methods", "baseline", "--tasks", "rte", "--dry-run", "-o", str(store_copy / "x")]) == 2
    finally:
        os.chmod(store_copy, 0o755)


def test_o_that_is_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    for argv in (["results", "-o", str(f)], ["check", "-o", str(f)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is a file, not a results store folder" in err and err.count("\n") == 1
    with pytest.raises(StoreError, match="is a file"):
        Store(f)


def test_o_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="cannot write the results store"):
        Store(tmp_path / "f" / "store")  # a folder under a file: NotADirectoryError, as unwritable as it gets
