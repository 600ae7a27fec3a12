"""Tasks beyond GLUE: local CSV / JSON-lines / parquet files, the split protocol, clear bad-file errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calibench import registry
from calibench.tasks import DataError, get_task, prepare_splits
from calibench.tasks.custom import custom_task, parse_task_def, register_task_def

ROWS = [
    ("a fine film", "positive"),
    ("dull and long", "negative"),
    ("loved it", "positive"),
    ("not good", "negative"),
    ("superb acting", "positive"),
    ("a mess", "negative"),
]


def _write(path, rows, fmt, text="review", label="sentiment"):
    if fmt == "csv":
        path.write_text(f"{text},{label}\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({text: t, label: lab}) + "\n" for t, lab in rows))
    else:
        pq.write_table(pa.table({text: [t for t, _ in rows], label: [lab for _, lab in rows]}), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_task_from_local_files_follows_the_split_protocol(tmp_path, fmt):
    train = _write(tmp_path / f"train.{fmt}", ROWS * 3, fmt)
    dev = _write(tmp_path / f"dev.{fmt}", ROWS[:5], fmt)
    spec = parse_task_def(
        f"reviews=files(train={train},validation={dev},text=review,label=sentiment,labels=negative;positive)"
    )
    assert spec.text_fields == ("review",) and spec.label_names == ("negative", "positive")
    splits = prepare_splits(spec, train_size=10)
    assert (splits.train.num_rows, splits.dev.num_rows, splits.test.num_rows) == (10, 2, 2)  # the middle row unused
    assert splits.dev["label"] == [1, 0] and splits.dev["review"] == ["a fine film", "dull and long"]
    again = prepare_splits(spec, train_size=10)
    assert again.fingerprint == splits.fingerprint
    assert splits.stats["source_origin"] == "task definition"


def test_integer_labels_are_ids_in_label_order(tmp_path):
    rows = [(t, int(lab == "positive")) for t, lab in ROWS]
    spec = custom_task(
        "ints",
        files={
            "train": str(_write(tmp_path / "t.parquet", rows, "parquet")),
            "validation": str(_write(tmp_path / "d.parquet", rows, "parquet")),
        },
        text=["review"],
        label="sentiment",
        labels=["negative", "positive"],
    )
    assert prepare_splits(spec).test["label"] == [0, 1, 0]


def test_a_plugin_registers_a_custom_task_like_any_other(tmp_path):
    spec = custom_task(
        "plugin-reviews",
        files={
            "train": str(_write(tmp_path / "t.csv", ROWS, "csv")),
            "validation": str(_write(tmp_path / "d.csv", ROWS, "csv")),
        },
        text=["review"],
        label="sentiment",
        labels=["negative", "positive"],
    )
    registry.register("task", "plugin-reviews", spec, description="test only", source="a plugin")
    assert get_task("plugin-reviews") is spec
    assert prepare_splits("plugin-reviews").dev.num_rows == 3


def test_register_task_def_refuses_a_glue_name():
    with pytest.raises(ValueError, match="a built-in task has that name"):
        register_task_def("rte=files(train=a.csv,validation=b.csv,text=x,labels=a;b)")


@pytest.mark.parametrize(
    "definition, message",
    [
        ("reviews", "write NAME=files("),
        ("reviews=disk(train=a.csv)", "unknown source 'disk'"),
        ("reviews=files(train=a.csv,validation=b.csv,labels=a;b)", "give text=..."),
        ("reviews=files(train=a.csv,text=t,labels=a;b)", "files= needs a validation file"),
        ("reviews=files(train=a.csv,validation=b.csv,text=t,labels=a;b,metric=auc)", "metric 'auc' is not one of"),
        ("reviews=hub(text=t,labels=a;b)", "hub(...) needs id=DATASET"),
        ("reviews=files(train=a.csv,validation=b.csv,text=t,labels=a,colour=red)", "unknown option(s) ['colour']"),
    ],
)
def test_bad_definitions_are_one_line_errors(definition, message):
    with pytest.raises(ValueError) as err:
        parse_task_def(definition)
    assert message in str(err.value) and "\n" not in str(err.value)


def _task(tmp_path, train_text, dev_text, suffix="csv", **kw):
    (tmp_path / f"train.{suffix}").write_text(train_text)
    (tmp_path / f"dev.{suffix}").write_text(dev_text)
    return custom_task(
        "bad",
        files={"train": str(tmp_path / f"train.{suffix}"), "validation": str(tmp_path / f"dev.{suffix}")},
        text=kw.get("text", ["review"]),
        label="sentiment",
        labels=["negative", "positive"],
    )


GOOD = "review,sentiment\na,positive\nb,negative\n"


@pytest.mark.parametrize(
    "train, dev, suffix, message",
    [
        (
            "text,sentiment\na,positive\n",
            GOOD,
            "csv",
            "missing column(s) ['review']; the columns found are ['text', 'sentiment']",
        ),
        (GOOD, "review,sentiment\na,neutral\n", "csv", "label 'neutral' is neither one of ['negative', 'positive']"),
        (GOOD, "review,sentiment\na,7\n", "csv", "label outside 0..1"),
        (
            '{"review": "a", "sentiment": "positive"}\n{"review": ',
            '{"review": "a", "sentiment": 1}\n',
            "jsonl",
            "cannot read",
        ),
        (GOOD, "review,sentiment\na,positive,extra\n", "csv", "cannot read"),
        (GOOD, GOOD, "tsv", "unknown file type '.tsv'"),
    ],
)
def test_bad_files_get_errors_as_clear_as_glue(tmp_path, train, dev, suffix, message):
    spec = _task(tmp_path, train, dev, suffix)
    with pytest.raises(DataError) as err:
        prepare_splits(spec)
    assert message in str(err.value) and str(tmp_path) in str(err.value)


def test_a_missing_file_names_it(tmp_path):
    spec = custom_task(
        "gone",
        files={"train": str(tmp_path / "nope.csv"), "validation": str(tmp_path / "d.csv")},
        text=["review"],
        labels=["negative", "positive"],
    )
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        prepare_splits(spec)


def test_cli_trains_nothing_on_a_bad_task_def(tmp_path, capsys):
    from calibench.cli import main

    train = _write(tmp_path / "train.csv", ROWS, "csv", text="body")
    code = main(
        [
            "run",
            "--methods",
            "baseline",
            "--task-def",
            f"mine=files(train={train},validation={train},text=review,label=sentiment,labels=negative;positive)",
            "--tasks",
            "mine",
            "--output-dir",
            str(tmp_path / "out"),
            "--dry-run",
        ]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "missing column(s) ['review']" in err and "Traceback" not in err
