"""What a recipe sees while it trains: the model, the data, the clock and the stores."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from calibench.config import TrainingSpec
from calibench.training.batching import Encoded, collate, encode_texts

if TYPE_CHECKING:
    from rich.progress import Progress
    from transformers import PreTrainedTokenizerBase

    from calibench.models.classifier import Classifier
    from calibench.store.artifacts import ArtifactStore
    from calibench.tasks.spec import TaskSpec


@dataclass
class TrainContext:
    spec: TrainingSpec
    task: TaskSpec
    model: Classifier
    tokenizer: PreTrainedTokenizerBase
    train: Encoded
    train_texts: list[tuple[str, ...]]  # raw inputs (EBM's noise model trains on them)
    dev_texts: list[tuple[str, ...]]
    device: torch.device
    autocast: Callable[[], AbstractContextManager[Any]]
    rng: np.random.Generator
    artifacts: ArtifactStore | None = None  # for recipe caches (EBM's noise corpus)
    progress: Progress | None = None  # a rich Progress (or one with its add_task/update); None = silent
    step: int = 0
    total_steps: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # recipe-private state

    def encode(self, texts: list[tuple[str, ...]], labels: np.ndarray | None = None) -> Encoded:
        """Tokenise extra texts (e.g. noise samples) exactly as the task data was."""
        return encode_texts(self.tokenizer, texts, labels, self.spec.hyper.max_length)

    def batch(self, enc: Encoded, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return collate(enc, idx, self.device)
