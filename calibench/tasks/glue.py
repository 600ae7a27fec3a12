"""The eight GLUE classification tasks, with ``nyu-mll/glue`` label encodings.

STS-B is left out on purpose: it is a regression task (similarity scores from 0 to 5), so
class-probability calibration does not apply, and the EBM paper excludes it too.
:data:`EXCLUDED` records why each known-but-unsupported name is absent so that a lookup
can say so instead of guessing a near name.
"""

from __future__ import annotations

from calibench.tasks.spec import DerivedSplits, TaskSpec, TsvLayout

_TRAIN_DEV = (("train", "train.tsv"), ("validation", "dev.tsv"))
_NLI_BINARY = ("entailment", "not_entailment")

COLA = TaskSpec(
    name="cola",
    display_name="CoLA",
    hf_config="cola",
    text_fields=("sentence",),
    label_names=("unacceptable", "acceptable"),
    metric="mcc",
    # train.tsv / dev.tsv have no header: source, label, original-label mark, sentence.
    tsv=TsvLayout("CoLA", _TRAIN_DEV, header=False, text_columns=(3,), label_column=1),
    description="Corpus of Linguistic Acceptability: is the sentence grammatical? (Matthews corr.)",
)

SST2 = TaskSpec(
    name="sst2",
    display_name="SST-2",
    hf_config="sst2",
    text_fields=("sentence",),
    label_names=("negative", "positive"),
    metric="accuracy",
    tsv=TsvLayout("SST-2", _TRAIN_DEV, header=True, text_columns=("sentence",), label_column="label"),
    description="Stanford Sentiment Treebank, binary sentence sentiment.",
)

MRPC = TaskSpec(
    name="mrpc",
    display_name="MRPC",
    hf_config="mrpc",
    text_fields=("sentence1", "sentence2"),
    label_names=("not_equivalent", "equivalent"),
    metric="f1",
    metrics=("f1", "accuracy"),
    tsv=TsvLayout(
        "MRPC",
        _TRAIN_DEV,
        header=True,
        text_columns=("#1 String", "#2 String"),
        label_column="Quality",
        # Preferred when present: reproduces nyu-mll/glue's idx (row in the original file).
        derived=DerivedSplits(
            source_file="msr_paraphrase_train.txt",
            ids_file="dev_ids.tsv",
            id_columns=("#1 ID", "#2 ID"),
            listed_split="validation",
            unlisted_split="train",
        ),
    ),
    # The reference code's MRPC clean-up: the corpus is tokenised with spaces before punctuation.
    text_replacements=((" ,", ","), (" .", "."), (" 's", "'s")),
    description="Microsoft Research Paraphrase Corpus: are the two sentences paraphrases? (F1, accuracy)",
)

QQP = TaskSpec(
    name="qqp",
    display_name="QQP",
    hf_config="qqp",
    text_fields=("question1", "question2"),
    label_names=("not_duplicate", "duplicate"),
    metric="f1",
    metrics=("f1", "accuracy"),
    # header: id qid1 qid2 question1 question2 is_duplicate
    tsv=TsvLayout("QQP", _TRAIN_DEV, header=True, text_columns=("question1", "question2"), label_column="is_duplicate"),
    description="Quora Question Pairs: do the two questions ask the same thing? (F1, accuracy)",
)

MNLI = TaskSpec(
    name="mnli",
    display_name="MNLI-m",
    hf_config="mnli",
    text_fields=("premise", "hypothesis"),
    label_names=("entailment", "neutral", "contradiction"),
    metric="accuracy",
    dev_split_name="validation_matched",
    # Many columns (parses, genre, annotator labels); the text is in sentence1/sentence2.
    tsv=TsvLayout(
        "MNLI",
        (("train", "train.tsv"), ("validation_matched", "dev_matched.tsv")),
        header=True,
        text_columns=("sentence1", "sentence2"),
        label_column="gold_label",
    ),
    description="Multi-Genre NLI, matched dev set: entailment / neutral / contradiction.",
)

QNLI = TaskSpec(
    name="qnli",
    display_name="QNLI",
    hf_config="qnli",
    text_fields=("question", "sentence"),
    label_names=_NLI_BINARY,
    metric="accuracy",
    tsv=TsvLayout("QNLI", _TRAIN_DEV, header=True, text_columns=("question", "sentence"), label_column="label"),
    description="Question NLI (from SQuAD): does the sentence answer the question?",
)

RTE = TaskSpec(
    name="rte",
    display_name="RTE",
    hf_config="rte",
    text_fields=("sentence1", "sentence2"),
    label_names=_NLI_BINARY,
    metric="accuracy",
    tsv=TsvLayout("RTE", _TRAIN_DEV, header=True, text_columns=("sentence1", "sentence2"), label_column="label"),
    description="Recognizing Textual Entailment, binary.",
)

WNLI = TaskSpec(
    name="wnli",
    display_name="WNLI",
    hf_config="wnli",
    text_fields=("sentence1", "sentence2"),
    # Note the order: nyu-mll/glue encodes WNLI's entailment as 1 (the TSV files store 0/1).
    label_names=("not_entailment", "entailment"),
    metric="accuracy",
    tsv=TsvLayout("WNLI", _TRAIN_DEV, header=True, text_columns=("sentence1", "sentence2"), label_column="label"),
    description="Winograd NLI, binary (its dev set is adversarial to train-set memorisation).",
)

GLUE_TASKS: dict[str, TaskSpec] = {t.name: t for t in (COLA, SST2, MRPC, QQP, MNLI, QNLI, RTE, WNLI)}

# Keys are normalised names (lower case, no '-', '_' or spaces); see calibench.tasks.lookup.
EXCLUDED: dict[str, str] = {
    "stsb": (
        "STS-B is a regression task (similarity scores from 0 to 5): class-probability "
        "calibration does not apply, so calibench (like the EBM paper) excludes it"
    ),
    "ax": (
        "AX is GLUE's diagnostic set: a test split with hidden labels and no training data; "
        "evaluate an 'mnli' model on it instead"
    ),
    "mnlimismatched": (
        "the 'mnli' task evaluates on the matched dev set, as in the EBM paper; a mismatched "
        "variant is not defined yet (register a TaskSpec with dev_split_name='validation_mismatched')"
    ),
}
