"""netcal calibrators behind calibench's contract: they calibrate, and their outputs are distributions."""

import numpy as np
import pytest
from scipy.special import softmax

from baselines.netcal_calibrators import from_netcal, renormalise, to_netcal
from calibench import registry
from calibench.methods.compose import parse_method
from calibench.metrics import ece

MULTICLASS = ["vector-scaling", "histogram-binning", "isotonic", "bbq", "enir"]
CASES = [(name, c) for name in MULTICLASS for c in (2, 3)] + [("beta-calibration", 2)]
#: the scaling methods are fitted by netcal's derivative-free optimiser: fewer points keep tests fast
N_DEV = {"vector-scaling": 600, "beta-calibration": 600}


@pytest.mark.parametrize(("name", "classes"), CASES)
def test_lowers_ece_on_held_out_data_and_returns_distributions(synthetic, name, classes):
    dev_logits, dev_labels = synthetic(N_DEV.get(name, 1500), classes, scale=3.0, seed=1)
    test_logits, test_labels = synthetic(3000, classes, scale=3.0, seed=2)  # same distribution, fresh draws
    cal = parse_method(name).calibrator.instantiate("calibrator").fit(dev_logits, dev_labels)
    probs = cal.predict_proba(test_logits)
    assert probs.shape == (3000, classes)
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    before = ece(softmax(test_logits, axis=1), test_labels)
    after = ece(probs, test_labels)
    assert before > 0.1  # the data really is miscalibrated
    assert after < 0.6 * before, f"{name}: ECE {before:.3f} -> {after:.3f}"


def test_vector_scaling_is_platt_scaling_when_binary(synthetic):
    logits, labels = synthetic(800, 2, scale=2.0)
    cal = registry.get("calibrator", "vector-scaling")().fit(logits, labels)
    params = cal.fitted_params()
    assert len(params["weights"]) == 1 and len(params["bias"]) == 1  # one slope, one intercept
    margin = logits[:, 1] - logits[:, 0]  # the log-odds netcal recovers from p(class 1)
    expected = 1.0 / (1.0 + np.exp(-(params["weights"][0] * margin + params["bias"][0])))
    np.testing.assert_allclose(cal.predict_proba(logits)[:, 1], expected, atol=1e-6)
    assert params["weights"][0] == pytest.approx(0.5, abs=0.15)  # undoes the 2x overconfidence


def test_binary_shape_conventions():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    np.testing.assert_array_equal(to_netcal(probs), [0.1, 0.8])
    three = np.full((2, 3), 1 / 3)
    assert to_netcal(three) is three
    np.testing.assert_allclose(from_netcal(np.array([0.1, 0.8]), 2), probs)
    np.testing.assert_allclose(from_netcal(np.array([[0.1], [0.8]]), 2), probs)
    np.testing.assert_allclose(from_netcal(three, 3), three)


def test_renormalise_clips_and_falls_back_on_empty_rows():
    fallback = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    raw = np.array([[0.0, 0.0, 0.0], [0.2, 0.2, 1.2], [np.nan, 0.5, 0.5]])
    out = renormalise(raw, fallback)
    np.testing.assert_allclose(out[0], fallback[0])  # all-zero row: the uncalibrated one
    np.testing.assert_allclose(out[1], [0.2 / 1.4, 0.2 / 1.4, 1.0 / 1.4])  # 1.2 clipped to 1 first
    np.testing.assert_allclose(out[2], [0.0, 0.5, 0.5])


def test_netcal_chatter_is_silenced_and_its_warnings_surface(synthetic, capsys):
    logits, labels = synthetic(300, 3, scale=3.0)
    labels = np.where(labels == 2, 0, labels)  # class 2 never occurs in the fitting labels
    with pytest.warns(RuntimeWarning) as caught:
        cal = registry.get("calibrator", "bbq")().fit(logits, labels)
    messages = " ".join(str(w.message) for w in caught)
    assert "netcal: WARNING: Not all class labels" in messages and "no training data for label 2" in messages
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # no progress bars or prints from library code
    probs = cal.predict_proba(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_beta_calibration_refuses_multiclass(synthetic):
    logits, labels = synthetic(50, 3)
    with pytest.raises(ValueError, match="binary tasks"):
        registry.get("calibrator", "beta-calibration")().fit(logits, labels)


def test_options_validate_and_enter_identity():
    hb = parse_method("histogram-binning(bins=20,fit_on=train)").calibrator.instantiate("calibrator")
    assert hb.identity()["bins"] == 20 and hb.fit_on == "train"
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        registry.get("calibrator", "histogram-binning")(bins=0)
    with pytest.raises(ValueError, match="score must be 'BIC' or 'AIC'"):
        registry.get("calibrator", "bbq")(score="XIC")
    with pytest.raises(ValueError, match="fit_on"):
        registry.get("calibrator", "isotonic")(fit_on="test")
    with pytest.raises(RuntimeError, match="call fit"):
        registry.get("calibrator", "isotonic")().predict_proba(np.zeros((2, 2)))
