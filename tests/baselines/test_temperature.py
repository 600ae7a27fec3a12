"""temp-scaling's defining property: the one temperature that minimises NLL on the fitting split."""

import numpy as np
import pytest
from scipy.optimize import check_grad
from scipy.special import log_softmax

from baselines.temperature import TemperatureScaling, nll_and_grad


def mean_nll(logits: np.ndarray, labels: np.ndarray, t: float = 1.0) -> float:
    return float(-log_softmax(logits / t, axis=1)[np.arange(len(labels)), labels].mean())


@pytest.mark.parametrize("classes", [2, 3])
def test_overconfident_logits_recover_the_known_temperature(synthetic, classes):
    logits, labels = synthetic(20000, classes, scale=2.5)  # softmax(logits / 2.5) is the truth
    ts = TemperatureScaling().fit(logits, labels)
    assert ts.temperature_ == pytest.approx(2.5, rel=0.05)
    assert mean_nll(logits, labels, ts.temperature_) < mean_nll(logits, labels) - 0.05


@pytest.mark.parametrize("classes", [2, 3])
def test_calibrated_logits_keep_temperature_one(synthetic, classes):
    logits, labels = synthetic(20000, classes, scale=1.0)
    assert TemperatureScaling().fit(logits, labels).temperature_ == pytest.approx(1.0, abs=0.05)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyro, inside netcal
def test_nll_fit_matches_a_brute_force_grid_and_netcal(synthetic):
    logits, labels = synthetic(3000, 3, scale=1.7, seed=1)
    fitted = TemperatureScaling().fit(logits, labels).temperature_
    grid = np.arange(0.5, 4.0, 0.001)
    best = grid[np.argmin([mean_nll(logits, labels, t) for t in grid])]
    assert fitted == pytest.approx(best, abs=0.002)

    from netcal.scaling import TemperatureScaling as NetcalTS
    from scipy.special import softmax

    ref = NetcalTS(method="mle").fit(softmax(logits, axis=1), labels)
    assert fitted == pytest.approx(1.0 / float(np.ravel(ref.weights)[0]), rel=1e-3)  # netcal fits 1/T


def test_analytic_gradient(synthetic):
    logits, labels = synthetic(500, 4, scale=2.0)
    for log_t in (-0.5, 0.0, 0.7):
        err = check_grad(
            lambda x: nll_and_grad(x, logits, labels)[0],
            lambda x: nll_and_grad(x, logits, labels)[1],
            np.array([log_t]),
        )
        assert err < 1e-5


def test_ece_grid_objective_picks_a_grid_temperature_near_the_nll_one(synthetic):
    logits, labels = synthetic(5000, 3, scale=2.0)
    ts = TemperatureScaling(objective="ece-grid").fit(logits, labels)
    assert ts.temperature_ in TemperatureScaling.GRID
    assert ts.temperature_ == pytest.approx(2.0, abs=0.3)


def test_ece_grid_is_the_reference_tscal_calibrator(synthetic):
    """13 temperatures scored by the paper's get_ece(num_bins=20), first minimum (audit item 2.2)."""
    calibration = pytest.importorskip("calibration", reason="uncertainty-calibration not installed")
    assert TemperatureScaling.GRID.tolist() == [0.1, 0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0]
    assert "ece_bins" not in TemperatureScaling().options
    for seed, (n, c, scale) in enumerate([(400, 2, 3.0), (300, 3, 0.6), (800, 4, 1.7), (97, 2, 5.0)]):
        logits, labels = synthetic(n, c, scale=scale, seed=seed)
        scores = [
            calibration.get_ece(np.exp(log_softmax(logits / t, axis=1)), labels, num_bins=20)
            for t in TemperatureScaling.GRID
        ]
        expected = float(TemperatureScaling.GRID[int(np.argmin(scores))])
        assert TemperatureScaling(objective="ece-grid").fit(logits, labels).temperature_ == expected


def test_predict_proba_is_softmax_of_scaled_logits(synthetic):
    logits, labels = synthetic(300, 3, scale=2.0)
    ts = TemperatureScaling().fit(logits, labels)
    probs = ts.predict_proba(logits)
    np.testing.assert_allclose(probs, np.exp(log_softmax(logits / ts.temperature_, axis=1)))
    assert ts.fitted_params() == {"temperature": ts.temperature_}


def test_options_and_misuse_fail_clearly(synthetic):
    logits, labels = synthetic(10, 3)
    assert TemperatureScaling(fit_on="train").identity()["fit_on"] == "train"
    with pytest.raises(ValueError, match="fit_on must be 'dev' or 'train'"):
        TemperatureScaling(fit_on="test")
    with pytest.raises(ValueError, match="objective"):
        TemperatureScaling(objective="brier")
    with pytest.raises(RuntimeError, match="call fit"):
        TemperatureScaling().predict_proba(logits)
    with pytest.raises(ValueError, match="labels must be integers"):
        TemperatureScaling().fit(logits, labels + 3)
    with pytest.raises(ValueError, match="fitted on 3 classes"):
        TemperatureScaling().fit(logits, labels).predict_proba(logits[:, :2])
