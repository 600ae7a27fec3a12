"""The GLUE task specs, their registration, and lookup by name."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from calibench import registry
from calibench.tasks import get_task
from calibench.tasks.glue import GLUE_TASKS, RTE

# name: (hf config, text fields, label names in nyu-mll/glue order, metric, metrics, official dev split)
EXPECTED = {
    "cola": ("cola", ("sentence",), ("unacceptable", "acceptable"), "mcc", ("mcc",), "validation"),
    "sst2": ("sst2", ("sentence",), ("negative", "positive"), "accuracy", ("accuracy",), "validation"),
    "mrpc": (
        "mrpc",
        ("sentence1", "sentence2"),
        ("not_equivalent", "equivalent"),
        "f1",
        ("f1", "accuracy"),
        "validation",
    ),
    "qqp": ("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), "f1", ("f1", "accuracy"), "validation"),
    "mnli": (
        "mnli",
        ("premise", "hypothesis"),
        ("entailment", "neutral", "contradiction"),
        "accuracy",
        ("accuracy",),
        "validation_matched",
    ),
    "qnli": (
        "qnli",
        ("question", "sentence"),
        ("entailment", "not_entailment"),
        "accuracy",
        ("accuracy",),
        "validation",
    ),
    "rte": (
        "rte",
        ("sentence1", "sentence2"),
        ("entailment", "not_entailment"),
        "accuracy",
        ("accuracy",),
        "validation",
    ),
    "wnli": (
        "wnli",
        ("sentence1", "sentence2"),
        ("not_entailment", "entailment"),
        "accuracy",
        ("accuracy",),
        "validation",
    ),
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_exactly_the_eight_glue_classification_tasks() -> None:
    assert set(GLUE_TASKS) == set(EXPECTED)
    assert "stsb" not in GLUE_TASKS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spec_fields(name: str) -> None:
    spec = GLUE_TASKS[name]
    config, fields, labels, metric, metrics, dev_split = EXPECTED[name]
    assert (spec.name, spec.hf_path, spec.hf_config) == (name, "nyu-mll/glue", config)
    assert spec.text_fields == fields
    assert spec.label_names == labels
    assert spec.num_labels == len(labels)
    assert (spec.metric, spec.metrics) == (metric, metrics)
    assert spec.dev_split_name == dev_split
    assert spec.train_split_name == "train"
    assert spec.is_pair == (len(fields) == 2)
    assert len(spec.tsv.text_columns) == len(fields)
    assert spec.tsv.file_for("train") == "train.tsv"
    assert spec.tsv.file_for(dev_split) == ("dev_matched.tsv" if name == "mnli" else "dev.tsv")


@pytest.mark.parametrize("name", ["cola", "sst2", "mrpc", "qnli", "rte", "wnli"])
def test_label_names_and_columns_match_the_local_nyu_copy(name: str, shared_glue_dir: Path) -> None:
    """The local parquet files carry nyu-mll/glue's ClassLabel metadata: the encodings must agree."""
    spec = GLUE_TASKS[name]
    schema = pq.read_schema(shared_glue_dir / spec.hf_config / f"{spec.dev_split_name}.parquet")
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert tuple(features["label"]["names"]) == spec.label_names
    assert schema.names == [*spec.text_fields, "label", "idx"]


def test_tsv_layouts_of_the_original_distribution() -> None:
    cola, mrpc, mnli = GLUE_TASKS["cola"].tsv, GLUE_TASKS["mrpc"].tsv, GLUE_TASKS["mnli"].tsv
    assert (cola.dir_name, cola.header, cola.text_columns, cola.label_column) == ("CoLA", False, (3,), 1)
    assert (mnli.dir_name, mnli.text_columns, mnli.label_column) == ("MNLI", ("sentence1", "sentence2"), "gold_label")
    assert mrpc.text_columns == ("#1 String", "#2 String") and mrpc.label_column == "Quality"
    assert mrpc.derived is not None and mrpc.derived.source_file == "msr_paraphrase_train.txt"
    assert GLUE_TASKS["qqp"].tsv.label_column == "is_duplicate"
    assert GLUE_TASKS["qnli"].tsv.text_columns == ("question", "sentence")
    assert {t.tsv.dir_name for t in GLUE_TASKS.values()} == {
        "CoLA",
        "SST-2",
        "MRPC",
        "QQP",
        "MNLI",
        "QNLI",
        "RTE",
        "WNLI",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text_fields": ("a", "b", "c")}, "1 or 2"),
        ({"text_fields": ("label", "b")}, "reserved"),
        ({"label_names": ("yes",)}, "at least 2"),
        ({"label_names": ("yes", "yes")}, "distinct"),
        ({"metric": "auc", "metrics": ()}, "metric 'auc'"),
        ({"metrics": ("accuracy", "mcc"), "metric": "f1"}, "must start with"),
        ({"text_fields": ("sentence",)}, "one column per text field"),
    ],
)
def test_spec_validation(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(RTE, **change)


def test_specs_are_hashable_values() -> None:
    assert hash(RTE) == hash(replace(RTE))
    assert replace(RTE, description="other words") == RTE  # the description is not identity


def test_builtin_registration_is_complete_and_says_each_task_once() -> None:
    for name in EXPECTED:
        entry = registry.get_entry("task", name)
        assert entry.target is GLUE_TASKS[name]  # the spec itself: plain data, cheap to import
        assert entry.description == GLUE_TASKS[name].description
        assert registry.get("task", name) is GLUE_TASKS[name]


@pytest.mark.parametrize(
    ("alias", "name"),
    [("rte", "rte"), ("SST-2", "sst2"), (" CoLA ", "cola"), ("MNLI-m", "mnli"), ("mnli_matched", "mnli")],
)
def test_get_task_accepts_common_spellings(alias: str, name: str) -> None:
    assert get_task(alias) is GLUE_TASKS[name]


def test_get_task_passes_a_spec_through() -> None:
    custom = replace(RTE, name="my-rte")
    assert get_task(custom) is custom


@pytest.mark.parametrize(
    ("name", "why"), [("stsb", "regression"), ("STS-B", "regression"), ("ax", "diagnostic"), ("mnli-mm", "matched")]
)
def test_excluded_tasks_say_why(name: str, why: str) -> None:
    with pytest.raises(registry.RegistryError, match=why):
        get_task(name)


def test_unknown_task_gets_the_registry_suggestion() -> None:
    with pytest.raises(registry.RegistryError, match="Did you mean 'rte'"):
        get_task("rtee")
    with pytest.raises(TypeError):
        get_task(3)  # type: ignore[arg-type]


def test_importing_the_task_package_stays_light() -> None:
    """CLI start-up imports the registrations: that must not pull in datasets, pyarrow or torch."""
    code = (
        "import sys, calibench.builtin, calibench.tasks as t; "
        "t.get_task('rte'); heavy = [m for m in ('datasets', 'pyarrow', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "assert callable(t.prepare_splits) and 'datasets' in sys.modules"
    )
    # calibench.builtin may not import yet while the tree is being built: register directly.
    code = "from calibench import registry; registry.load_plugins = lambda force=False: None; " + code
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
