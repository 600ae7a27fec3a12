"""calibench: calibration benchmarking for NLU classifiers."""

__version__ = "0.1.0"
