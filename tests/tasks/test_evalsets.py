"""Extra evaluation sets: parsing, field and label mapping by name, fingerprints, clear errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calibench.registry import RegistryError
from calibench.tasks import DataError, get_task
from calibench.tasks.evalsets import load_eval_set, parse_eval_set
from calibench.tasks.loading import load_split


def test_parse_names_the_set_and_the_pair():
    s = parse_eval_set("rte:qnli", "shift")
    assert (s.id, s.pair, s.target, s.source, s.location) == ("shift-qnli", "rte→qnli", "rte", "task", "qnli")
    m = parse_eval_set("mnli:mnli(split=validation_mismatched)", "shift")
    assert m.id == "shift-mnli-validation_mismatched" and m.split == "validation_mismatched"
    o = parse_eval_set("SST-2:cola", "ood")
    assert (o.id, o.target) == ("ood-cola", "sst2")
    h = parse_eval_set("sst2:hub(id=Yelp/yelp_polarity,split=test,fields=text,labels=1:negative;2:positive)", "shift")
    assert (h.source, h.location, h.name, h.fields) == (
        "hub",
        "Yelp/yelp_polarity",
        "yelp_polarity",
        (("sentence", "text"),),
    )
    assert dict(h.labels) == {"1": "negative", "2": "positive"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("rte", "write TRAINED_TASK:SOURCE"),
        ("rte:qnli(colour=red)", "unknown option(s) ['colour']"),
        ("rte:qnli(fields=question)", "gives 1 column(s) for rte's 2 text field(s)"),
        ("rte:qnli(fields=premise:question)", "names ['premise'], not text fields of rte"),
        ("rte:hub(split=test)", "hub(...) needs id=..."),
    ],
)
def test_bad_spec_strings_are_one_line_errors(text, message):
    with pytest.raises(ValueError) as err:
        parse_eval_set(text, "shift")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_source_task_gets_the_registry_suggestion():
    with pytest.raises(RegistryError, match="Did you mean 'qnli'"):
        parse_eval_set("rte:qnlii", "shift")


def test_wnli_labels_are_mapped_by_name_not_id(glue_dir):
    wnli, rte = get_task("wnli"), get_task("rte")
    assert wnli.label_names == tuple(reversed(rte.label_names))  # the trap: same ids, opposite meaning
    raw, _ = load_split("wnli", "validation", glue_dir)
    es = load_eval_set(parse_eval_set("rte:wnli", "shift"), glue_dir)
    assert es.stats["n"] == raw.num_rows == 71
    raw_names = [wnli.label_names[i] for i in raw.column("label").to_pylist()]
    mapped_names = [rte.label_names[i] for i in es.data["label"]]
    assert mapped_names == raw_names
    np.testing.assert_array_equal(np.array(es.data["label"]), 1 - np.array(raw.column("label").to_pylist()))
    assert es.data["sentence1"] == raw.column("sentence1").to_pylist()


def test_rte_to_qnli_uses_all_validation_rows_with_its_fields(glue_dir):
    es = load_eval_set(parse_eval_set("rte:qnli", "shift"), glue_dir)
    raw, _ = load_split("qnli", "validation", glue_dir)  # QNLI's training split is absent here: not needed
    assert es.stats["n"] == 5463 and es.data.column_names == ["sentence1", "sentence2", "label", "idx"]
    assert es.data["sentence1"][:5] == raw.column("question").to_pylist()[:5]
    assert es.data["sentence2"][:5] == raw.column("sentence").to_pylist()[:5]
    assert es.data["label"] == raw.column("label").to_pylist()  # same label names, same order


def test_fingerprints_identify_the_content(glue_dir):
    a = load_eval_set(parse_eval_set("rte:wnli", "shift"), glue_dir)
    b = load_eval_set(parse_eval_set("rte:wnli", "shift"), glue_dir)
    swapped = load_eval_set(parse_eval_set("rte:wnli(fields=sentence2;sentence1)", "shift"), glue_dir)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
    assert swapped.fingerprint != a.fingerprint


def test_ood_sets_map_fields_and_ignore_labels(glue_dir):
    es = load_eval_set(parse_eval_set("rte:sst2", "ood"), glue_dir)
    assert es.stats["n"] == 872 and set(es.data["label"]) == {0}
    assert es.data["sentence1"] == es.data["sentence2"]  # one SST-2 sentence feeds both sides
    # CoLA's labels (acceptable/unacceptable) mean nothing to SST-2, and are not needed
    assert load_eval_set(parse_eval_set("sst2:cola", "ood"), glue_dir).stats["n"] == 1043


def test_label_names_that_do_not_match_are_a_clear_error(glue_dir):
    with pytest.raises(DataError) as err:
        load_eval_set(parse_eval_set("rte:sst2", "shift"), glue_dir)
    msg = str(err.value)
    assert "label names do not match" in msg and "['negative', 'positive']" in msg and "labels=" in msg
    assert "\n" not in msg


def test_pairs_with_another_field_count_need_a_field_map(glue_dir):
    with pytest.raises(DataError, match=r"say which column feeds which field with fields="):
        load_eval_set(parse_eval_set("rte:cola", "ood"), glue_dir)
    es = load_eval_set(parse_eval_set("rte:cola(fields=sentence;sentence)", "ood"), glue_dir)
    assert es.stats["text_columns"] == ["sentence", "sentence"]


def test_file_sets_with_a_label_map(tmp_path):
    path = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table(
            {"p": ["a cat sat", "dogs bark", "  "], "h": ["a cat", "cats bark", "x"], "gold": ["yes", "no", "yes"]}
        ),
        path,
    )
    spec = parse_eval_set(
        f"rte:file(path={path},fields=p;h,label=gold,labels=yes:entailment;no:not_entailment)", "shift"
    )
    es = load_eval_set(spec)
    assert es.data["label"] == [0, 1] and es.stats["dropped_empty"] == 1 and spec.name == "pairs"
    with pytest.raises(DataError, match=r"label value\(s\) \['maybe'\] have no entry in labels="):
        pq.write_table(pa.table({"p": ["a"], "h": ["b"], "gold": ["maybe"]}), path)
        load_eval_set(spec)
    with pytest.raises(DataError, match=r"missing column\(s\) \['hyp'\]; the columns found are \['p', 'h', 'gold'\]"):
        load_eval_set(parse_eval_set(f"rte:file(path={path},fields=p;hyp,label=gold)", "shift"))


def test_cli_refuses_a_pair_that_does_not_fit_before_training(tmp_path, glue_dir, capsys):
    from calibench.cli import main
    from calibench.store.db import Store

    base = [
        "run",
        "--methods",
        "baseline",
        "--tasks",
        "rte",
        "--train-size",
        "8",
        "--max-steps",
        "1",
        "--data-dir",
        glue_dir,
        "--output-dir",
        str(tmp_path),
    ]
    assert main([*base, "--shift", "rte:sst2"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "label names do not match" in err and "Traceback" not in err
    assert main([*base, "--shift", "sst2:cola"]) == 2
    assert "the run does not train 'sst2'" in " ".join(capsys.readouterr().err.split())
    assert main([*base, "--shift", "rte:qnli(fields=question;answer)"]) == 2
    assert "missing column(s) ['answer']" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / Store.DB_NAME).exists() or Store(tmp_path).trainings() == []


def test_a_label_map_speaks_the_class_names_of_a_labelled_column(glue_dir):
    # QNLI's ids through its names: entailment -> not_entailment and back, by name
    es = load_eval_set(
        parse_eval_set("rte:qnli(labels=entailment:not_entailment;not_entailment:entailment)", "shift"), glue_dir
    )
    raw, _ = load_split("qnli", "validation", glue_dir)
    np.testing.assert_array_equal(np.array(es.data["label"]), 1 - np.array(raw.column("label").to_pylist()))


def test_size_scores_a_seeded_subsample_the_same_rows_every_time(glue_dir):
    full = load_eval_set(parse_eval_set("rte:qnli", "shift"), glue_dir)
    sub = load_eval_set(parse_eval_set("rte:qnli(size=500)", "shift"), glue_dir)
    again = load_eval_set(parse_eval_set("rte:qnli(size=500)", "shift"), glue_dir)
    assert (sub.stats["n"], sub.stats["n_available"]) == (500, 5463)
    assert sub.fingerprint == again.fingerprint != full.fingerprint
    rows = dict(zip(full.data["idx"], zip(full.data["sentence1"], full.data["label"])))
    assert all(rows[i] == (q, y) for i, q, y in zip(sub.data["idx"], sub.data["sentence1"], sub.data["label"]))
    assert sorted(sub.data["idx"]) == list(sub.data["idx"]) and len(set(sub.data["idx"])) == 500
    assert load_eval_set(parse_eval_set("rte:wnli(size=1000)", "shift"), glue_dir).stats["n"] == 71  # all there are
    with pytest.raises(ValueError, match="size must be a positive whole number"):
        parse_eval_set("rte:qnli(size=0)", "shift")
