"""What a task is: its columns, labels, metric, and where its files live.

A :class:`TaskSpec` is plain, hashable data with no heavy imports, so registering and
listing tasks stays cheap. Label encodings follow the Hugging Face dataset ``nyu-mll/glue``
exactly, whichever source (parquet copy, original TSV files, hub) the rows come from, so
logits from runs on different sources are comparable and split fingerprints agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["accuracy", "mcc", "f1"]
METRICS: tuple[str, ...] = ("accuracy", "mcc", "f1")
RESERVED_COLUMNS: tuple[str, ...] = ("label", "idx")


@dataclass(frozen=True)
class DerivedSplits:
    """Two splits carved out of one file by an id list (MRPC's original distribution).

    Rows of ``source_file`` whose ``id_columns`` appear in ``ids_file`` (headerless TSV,
    one id tuple per line) form ``listed_split``; the others form ``unlisted_split``.
    ``idx`` is the row number in ``source_file``, which is what ``nyu-mll/glue`` stores.
    """

    source_file: str
    ids_file: str
    id_columns: tuple[str, ...]
    listed_split: str
    unlisted_split: str


@dataclass(frozen=True)
class TsvLayout:
    """How a task is stored in the original GLUE TSV distribution (``<dir>/<dir_name>/``).

    ``text_columns`` and ``label_column`` are column names when the file has a header row
    and 0-based positions when it does not (CoLA's train/dev files). Labels in a file are
    either one of the task's ``label_names`` (e.g. ``"not_entailment"``) or an integer
    already in the ``nyu-mll/glue`` encoding. ``idx`` is the 0-based data-row number.
    """

    dir_name: str
    files: tuple[tuple[str, str], ...]
    header: bool
    text_columns: tuple[str | int, ...]
    label_column: str | int
    derived: DerivedSplits | None = None

    def file_for(self, split: str) -> str | None:
        """The file name holding ``split``, or None if this layout has no file for it."""
        return dict(self.files).get(split)


@dataclass(frozen=True)
class CustomSource:
    """Where a task that is not in GLUE keeps its rows: a hub dataset or local files.

    ``kind`` is ``"hub"`` (``location`` a Hugging Face dataset id, ``config`` its config)
    or ``"files"`` (each split a local CSV, JSON-lines or parquet file). ``splits`` maps
    the task's split names to a hub split name or a file path. ``label_column`` names the
    source column holding the label (class names or integer ids in ``label_names`` order);
    ``text_columns`` gives, per text field, the source column it is read from.
    """

    kind: Literal["hub", "files"]
    location: str
    splits: tuple[tuple[str, str], ...]
    text_columns: tuple[str, ...]
    label_column: str = "label"
    config: str | None = None
    definition: str = ""  # the text it was parsed from, for messages and remote workers

    def split_location(self, split: str) -> str | None:
        return dict(self.splits).get(split)


@dataclass(frozen=True)
class TaskSpec:
    """A text-classification task: enough to load it, encode it and score it."""

    name: str
    hf_config: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    metric: Metric
    tsv: TsvLayout | None = None  # GLUE tasks: their original TSV layout
    hf_path: str = "nyu-mll/glue"
    display_name: str = ""
    # Every metric the task reports, primary first (GLUE reports F1 and accuracy for MRPC/QQP).
    metrics: tuple[str, ...] = ()
    train_split_name: str = "train"
    dev_split_name: str = "validation"
    # Literal (old, new) replacements applied in order to every text field of every split
    # before the protocol: the reference code's per-task text normalisation.
    text_replacements: tuple[tuple[str, str], ...] = ()
    description: str = field(default="", compare=False)
    # tasks beyond GLUE: a hub dataset or local files (see calibench.tasks.custom)
    source: CustomSource | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("TaskSpec.name must not be empty")
        if len(self.text_fields) not in (1, 2):
            raise ValueError(f"task {self.name!r}: text_fields must name 1 or 2 columns, got {self.text_fields!r}")
        if len(set(self.text_fields)) != len(self.text_fields):
            raise ValueError(f"task {self.name!r}: duplicate text field in {self.text_fields!r}")
        clash = [f for f in self.text_fields if f in RESERVED_COLUMNS]
        if clash:
            raise ValueError(
                f"task {self.name!r}: text field(s) {clash} clash with the reserved columns {RESERVED_COLUMNS}"
            )
        if len(self.label_names) < 2 or len(set(self.label_names)) != len(self.label_names):
            raise ValueError(
                f"task {self.name!r}: label_names must hold at least 2 distinct names, got {self.label_names!r}"
            )
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name!r}: metric {self.metric!r} is not one of {METRICS}")
        if not self.metrics:
            object.__setattr__(self, "metrics", (self.metric,))
        elif self.metrics[0] != self.metric or any(m not in METRICS for m in self.metrics):
            raise ValueError(
                f"task {self.name!r}: metrics {self.metrics!r} must start with {self.metric!r} and use {METRICS}"
            )
        if self.tsv is not None and len(self.tsv.text_columns) != len(self.text_fields):
            raise ValueError(f"task {self.name!r}: tsv.text_columns must give one column per text field")
        if self.source is not None and len(self.source.text_columns) != len(self.text_fields):
            raise ValueError(f"task {self.name!r}: source.text_columns must give one column per text field")
        if self.tsv is None and self.source is None:
            raise ValueError(f"task {self.name!r}: give its GLUE TSV layout (tsv=...) or a custom source (source=...)")
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name)

    @property
    def num_labels(self) -> int:
        """Number of classes; label ids are ``0 .. num_labels - 1``."""
        return len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """True for sentence-pair tasks (two text fields)."""
        return len(self.text_fields) == 2
