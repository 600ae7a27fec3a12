"""Saved predictions from any model (``calibench score``): reading them, and scoring them into
the results store that the leaderboard reads."""

from calibench.external.files import (
    FORMATS,
    PredictionFileError,
    Predictions,
    read_predictions,
)
from calibench.external.score import SeedPredictions, collect_seeds, score

__all__ = [
    "FORMATS",
    "PredictionFileError",
    "Predictions",
    "SeedPredictions",
    "collect_seeds",
    "read_predictions",
    "score",
]
