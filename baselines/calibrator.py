"""What every post-hoc calibrator in ``baselines`` shares: input checks (``fit_on`` is the base's).

A calibrator sees numpy logits and integer labels from stored predictions. Checking them
once, here, means a wrong shape fails with a message naming the calibrator and the
problem, instead of deep inside scipy or netcal.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from calibench.methods.base import Calibrator


class PostHocCalibrator(Calibrator):
    """A :class:`Calibrator` with validated ``fit_on`` and checked inputs.

    Subclasses set ``name`` (for messages) and extend ``defaults`` with their own options.
    """

    name: ClassVar[str] = "calibrator"
    defaults: ClassVar[dict[str, Any]] = {"fit_on": "dev"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # the base checks fit_on
        self.num_classes_: int | None = None

    def _check_fit(self, logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(logits as float64 (n, C), labels as int64 (n,))``; remembers C for predict."""
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(labels)
        if z.ndim != 2 or z.shape[1] < 2 or y.ndim != 1 or len(z) != len(y) or len(y) == 0:
            raise ValueError(f"{self.name}: need (n, C>=2) logits and (n,) labels, got {z.shape} and {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= z.shape[1]:
            raise ValueError(f"{self.name}: labels must be integers in [0, {z.shape[1]})")
        if not np.isfinite(z).all():
            raise ValueError(f"{self.name}: logits contain NaN or infinity")
        self.num_classes_ = z.shape[1]
        return z, y.astype(np.int64)

    def _check_predict(self, logits: np.ndarray) -> np.ndarray:
        """Logits as float64 ``(n, C)`` with the C seen in fit."""
        if self.num_classes_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict_proba()")
        z = np.asarray(logits, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.num_classes_:
            raise ValueError(f"{self.name}: fitted on {self.num_classes_} classes, got logits of shape {z.shape}")
        return z
