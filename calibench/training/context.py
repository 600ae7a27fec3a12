"""What a recipe sees while it trains: the model, the data, the clock and the stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import numpy as np
import torch

from calibench.config import TrainingSpec
from calibench.training.batching import Encoded, collate, encode_texts


@dataclass
class TrainContext:
    spec: TrainingSpec
    task: Any  # calibench.tasks.TaskSpec
    model: Any  # calibench.models.classifier.Classifier
    tokenizer: Any
    train: Encoded
    train_texts: list[tuple[str, ...]]  # raw inputs (EBM's noise model trains on them)
    dev_texts: list[tuple[str, ...]]
    device: torch.device
    autocast: Callable[[], ContextManager]
    rng: np.random.Generator
    artifacts: Any = None  # calibench.store.artifacts.ArtifactStore, for recipe caches
    progress: Any = None  # calibench.report.progress.Progress-like; None = silent
    step: int = 0
    total_steps: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # recipe-private state

    def encode(self, texts: list[tuple[str, ...]], labels: Any = None) -> Encoded:
        """Tokenise extra texts (e.g. noise samples) exactly as the task data was."""
        return encode_texts(self.tokenizer, texts, labels, self.spec.hyper.max_length)

    def batch(self, enc: Encoded, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return collate(enc, idx, self.device)
