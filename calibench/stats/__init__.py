"""Statistics: which differences between methods are real.

Intervals over test examples (bootstrap, recomputing the metric per resample through its
batched form) and over seeds (Student t); paired tests of a method against a reference;
Holm's correction; rank-based comparisons across tasks (Friedman, Nemenyi, pairwise
Wilcoxon, critical-difference diagrams); power of paired seed comparisons. Pure numpy/scipy.
"""

from calibench.stats.bootstrap import (
    BootstrapCI,
    SeedCI,
    bootstrap_ci,
    interval_from_distribution,
    jackknife_values,
    resample_indices,
    seed_ci,
)
from calibench.stats.cd_diagram import cd_diagram
from calibench.stats.multiple import holm
from calibench.stats.paired import (
    MIN_WILCOXON_PAIRS,
    PairedBootstrap,
    PairedSeedTests,
    TestResult,
    bootstrap_pvalue,
    paired_bootstrap,
    paired_bootstrap_values,
    paired_seed_tests,
)
from calibench.stats.power import detectable_difference, paired_t_power, seeds_needed
from calibench.stats.ranks import (
    FriedmanResult,
    average_ranks,
    friedman,
    nemenyi_cd,
    nemenyi_groups,
    pairwise_wilcoxon,
)

__all__ = [
    "MIN_WILCOXON_PAIRS",
    "BootstrapCI",
    "FriedmanResult",
    "PairedBootstrap",
    "PairedSeedTests",
    "SeedCI",
    "TestResult",
    "average_ranks",
    "bootstrap_ci",
    "bootstrap_pvalue",
    "cd_diagram",
    "detectable_difference",
    "friedman",
    "holm",
    "interval_from_distribution",
    "jackknife_values",
    "nemenyi_cd",
    "nemenyi_groups",
    "paired_bootstrap",
    "paired_bootstrap_values",
    "paired_seed_tests",
    "paired_t_power",
    "pairwise_wilcoxon",
    "resample_indices",
    "seed_ci",
    "seeds_needed",
]
