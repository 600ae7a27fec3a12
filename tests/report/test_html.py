"""The HTML report: files, escaping, and a real headless browser that must load every image."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from calibench.cli import main
from calibench.report.figures import diagram_binning, pooled_bins
from calibench.report.html import write_report
from calibench.report.leaderboard import LeaderboardOptions, build_leaderboard
from calibench.report.runs import Run

EVIL = '<script>alert("x")</script>'
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Images of the module's report: 3 tasks x 4 methods reliability diagrams, 3 risk-coverage
#: figures (one per task), 2 CD diagrams.
N_IMAGES = 17

#: Set to a path to keep the browser test's screenshot for a person to look at.
SCREENSHOT_ENV = "CALIBENCH_REPORT_SCREENSHOT"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def report(tmp_path_factory, make_runs):
    runs = make_runs(methods=("baseline", "temp-scaling", "sharpened"), n=300)
    for r in list(runs):  # a fourth method whose label is an HTML injection
        if r.method == "temp-scaling":
            runs.append(Run({**r.record, "method": EVIL}, r.probs, r.labels, r.source))
    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("ece", "accuracy"), n_resamples=300))
    out = tmp_path_factory.mktemp("report")
    index = write_report(lb, runs, out, command=f"calibench report --methods '{EVIL}' -o report")
    return lb, runs, index


def test_report_files_and_images(report):
    lb, _, index = report
    page = index.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', page)
    # one reliability diagram per task and method, one risk-coverage figure per task, one CD diagram per metric
    assert len(srcs) == len(lb.tasks) * len(lb.methods) + len(lb.tasks) + len(lb.boards) == N_IMAGES
    assert len([s for s in srcs if Path(s).name.startswith("risk-coverage-")]) == len(lb.tasks)
    for t in lb.tasks:
        assert f'alt="risk-coverage curves on {t}"' in page
    for src in srcs:
        w, h = _png_size(index.parent / src)
        assert w > 300 and h > 150
    assert sorted(p.name for p in (index.parent / "img").iterdir()) == sorted(Path(s).name for s in srcs)
    for needle in (
        "ECE ↓",
        "Accuracy ↑",
        "Reliability diagrams",
        "Critical-difference diagram",
        "ece(bins=15,scheme=width,norm=l1,confidence=top-label)",
        "Holm-corrected",
        "dev-halves-v2",
        lb.task_info["sst2"].fingerprint,
    ):
        assert needle in page


def test_every_name_from_runs_is_escaped(report):
    _, _, index = report
    page = index.read_text()
    assert page.count("<script") == 1 and "alert(" not in page.split("<script>")[1].split("</script>")[0]
    assert EVIL not in page
    assert html.escape(EVIL) in page  # shown, as text
    assert f'alt="reliability diagram of {html.escape(EVIL)} on rte"' in page


def test_rerun_removes_stale_images(tmp_path, make_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline",), seeds=(0,), n=40)
    lb = build_leaderboard(runs, LeaderboardOptions(n_resamples=100))
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "reliability-stale.png").write_bytes(b"old")
    (tmp_path / "img" / "notes.txt").write_text("mine")
    write_report(lb, runs, tmp_path, command="calibench report")
    names = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert "reliability-stale.png" not in names and "notes.txt" in names  # only its own kind of file is pruned
    assert len([n for n in names if n.startswith("reliability-")]) == 1


def test_diagrams_show_the_bins_behind_the_reported_ece(report):
    _, runs, _ = report
    assert diagram_binning(["ece(bins=10,scheme=width,norm=l1,confidence=top-label)"]).bins == 10
    assert diagram_binning(["ece(bins=10,scheme=mass,norm=l1,confidence=top-label)"]).bins == 15
    sel = [r for r in runs if r.task == "rte" and r.method == "baseline"]
    rb = pooled_bins([r.probs for r in sel], sel[0].labels, 15)
    assert rb.count.sum() == 3 * 300  # every seed's predictions, pooled
    top = np.concatenate([r.probs.max(axis=1) for r in sel]).astype(np.float64)
    assert np.nansum(rb.confidence * rb.count) == pytest.approx(top.sum())


def test_risk_coverage_figure_shows_each_methods_mean_curve(report):
    from calibench.metrics import metric_spec
    from calibench.report.figures import seed_mean_curve

    _, runs, _ = report
    sel = sorted((r for r in runs if r.task == "rte" and r.method == "baseline"), key=lambda r: r.seed)
    curve = seed_mean_curve([r.probs for r in sel], sel[0].labels)
    aurc = metric_spec("aurc")
    # the curve's mean risk is the seeds' mean AURC, the value the board's AURC column shows
    assert curve.risk.mean() == pytest.approx(np.mean([aurc.fn(r.probs, r.labels) for r in sel]), abs=1e-12)
    assert curve.coverage[-1] == 1.0 and np.all(curve.oracle_risk <= curve.risk + 1e-12)


def _browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_in_a_headless_browser(report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip(
            f"no headless browser on PATH (looked for {', '.join(BROWSERS)}); on Debian: apt-get install -y chromium"
        )
    lb, _, index = report
    url = index.resolve().as_uri()
    dom = _chromium(browser, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    assert loaded, "the page's load handler did not run"
    assert loaded.group(1) == loaded.group(2) == str(N_IMAGES)  # every image decoded (naturalWidth > 0)
    assert "<script>alert" not in dom.stdout  # the injected label stayed text

    screenshot = tmp_path / "report.png"
    shot = _chromium(
        browser, tmp_path, f"--screenshot={screenshot}", "--window-size=1200,2400", "--hide-scrollbars", url
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert _png_size(screenshot) == (1200, 2400)
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copy(screenshot, os.environ[SCREENSHOT_ENV])
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)[:, :, :3]
    assert pixels.std() > 0.05  # not a blank page
    blue = (pixels[:, :, 2] > 0.55) & (pixels[:, :, 0] < 0.45) & (pixels[:, :, 1] < 0.6)
    assert blue.sum() > 2000  # the reliability diagrams' accuracy bars are on screen


def test_a_broken_image_is_detected(report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip(f"no headless browser on PATH (looked for {', '.join(BROWSERS)})")
    _, _, index = report
    copy = tmp_path / "copied"
    copy.mkdir()
    shutil.copy(index, copy / "index.html")  # the page without its img/ folder
    dom = _chromium(browser, tmp_path, "--dump-dom", (copy / "index.html").as_uri())
    assert f'data-images-loaded="0/{N_IMAGES}"' in dom.stdout
    assert re.search(r'<p id="image-warning"(?! hidden)', dom.stdout)


def test_cli_report_from_a_store(tmp_path, make_runs, store_of, capsys):
    store = store_of(tmp_path / "store", make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=60))
    assert main(["report", "--store", str(store), "--output", str(tmp_path / "r"), "--resamples", "200"]) == 0
    assert "index.html" in capsys.readouterr().out
    page = (tmp_path / "r" / "index.html").read_text()
    assert f"calibench report -o {store} --resamples 200 --output {tmp_path / 'r'}" in page
    assert len(list((tmp_path / "r" / "img").glob("reliability-*.png"))) == 2


@pytest.fixture(scope="module")
def shift_report(tmp_path_factory, make_runs, make_extra_runs):
    runs = make_runs(tasks=("rte",), methods=("baseline", "temp-scaling"), n=120)
    lb = build_leaderboard(runs, LeaderboardOptions(metrics=("ece",), n_resamples=200))
    out = tmp_path_factory.mktemp("shift-report")
    return write_report(lb, runs, out, command="calibench report", extra_runs=make_extra_runs(runs))


def test_report_shows_shift_and_ood_histograms(shift_report):
    page = shift_report.read_text()
    for needle in (
        'id="shift"',
        "In-domain vs out-of-domain",
        'id="ood"',
        "OOD detection",
        "Score histograms",
        'href="#shift"',
        'href="#ood"',
    ):
        assert needle in page
    hists = re.findall(r'<img src="(img/ood-[^"]+)"', page)
    assert len(hists) == 2 * 2  # (baseline, temp-scaling) x (msp, logsumexp) on rte→sst2
    for src in hists:
        assert _png_size(shift_report.parent / src) == (380, 300)


def test_shift_report_in_a_headless_browser(shift_report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip(f"no headless browser on PATH (looked for {', '.join(BROWSERS)})")
    dom = _chromium(browser, tmp_path, "--dump-dom", shift_report.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom.stdout)
    page = shift_report.read_text()
    n_images = len(re.findall(r"<img ", page))
    assert len(re.findall(r'<img src="img/ood-', page)) == 4  # the score histograms, beside the other figures
    assert loaded and loaded.group(1) == loaded.group(2) == str(n_images)  # every image decoded
