"""The Table 2 ablation (paper §4.1) at a profile's scale, over seeds: loss, coordinate grid and backbone.

The paper's regression rows differ by a few hundredths of IoU; so do two short training runs of
one variant that differ only in their seed (or in the machine's floating-point rounding, which
sends a run down another path). One run per variant therefore cannot rank the rows. Here each
variant is trained once per seed, and the chapter reads means and intervals over seeds:

- `ablation_variants`: the four regression rows re-run, each with a `role` (`ABLATION_ROLES`);
- `ablation_seeds`: the seeds of a run (base, base + 1, ...);
- `run_ablation`: every variant (or some `roles`) on every seed, one row per run (a tqdm bar over
  the runs); each finished run can be kept in a cache folder (`ablation_run_key`), so a rerun
  continues where an interrupted one stopped;
- `ablation_summary`: per variant the mean over seeds with a Student-t interval (`mean_interval`);
- `ablation_differences`: the paired per-seed differences of `ABLATION_COMPARISONS` with intervals;
- `interval_sign`, `interval_words`: whether an interval of a difference excludes 0, in words;
- `ablation_results`, `ablation_headline`: the summary by role (never by position).

Intervals: mean +- t(level, n - 1) * sd / sqrt(n) over the n seeds (Student's t), not a bootstrap:
with 3-5 seeds a percentile bootstrap has a handful of distinct resamples and comes out too narrow.
A seed fixes the initial weights, the order of the hands and the augmentations of a run; all
variants see the same training hands (the first `n_hands`) and the same held-out hands. So the
intervals measure the spread of training itself, not that of drawing other hands, and two
variants on one seed are a pair (`ablation_differences`). `PAPER_TABLE2` holds the paper's numbers.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..cache import cached_json, content_key, source_fingerprint
from ..profiles import LocalizerConfig
from ..stats.cohorts import t_interval
from .hands import HandSet
from .model import count_parameters
from .train import evaluate, train_localizer

__all__ = ["PAPER_TABLE2", "ABLATION_ROLES", "ABLATION_COMPARISONS", "ABLATION_METRICS", "ablation_variants",
           "ablation_seeds", "run_ablation", "ablation_run_key", "mean_interval", "ablation_summary", "ablation_differences",
           "interval_sign", "interval_words", "ablation_results", "ablation_headline"]

PAPER_TABLE2 = pd.DataFrame(
    [("RetinaNet", 0.21, 0.18), ("SSD", 0.68, 0.93), ("Resnet-50 + MSE loss", 0.56, 0.90),
     ("Resnet-50 + DIoU-loss", 0.65, 0.98), ("Resnet-50 + DIoU-loss + coordinate grid", 0.68, 0.98),
     ("EfficientNet-V2-S + DIoU-loss + coordinate grid", 0.71, 0.99),
     ("EfficientNet-V2-L + DIoU-loss + coordinate grid", 0.72, 0.98)],
    columns=["paper_model", "paper_iou", "paper_loc_accuracy"])
"""Paper Table 2 (joint localisation on the clinic's real radiographs), for chapter 4 to print beside its own."""

ABLATION_ROLES: tuple[str, ...] = ("mse", "diou", "diou_grid", "second_backbone")
"""The ablation rows by what each isolates: resnet-like + MSE; + DIoU (eq. (1)); + coordinate grid;
the efficientnet-like backbone with DIoU + grid."""

ABLATION_COMPARISONS: tuple[tuple[str, str, str, str], ...] = (
    ("diou_vs_mse", "diou", "mse", "DIoU schedule vs MSE only"),
    ("grid_vs_none", "diou_grid", "diou", "coordinate grid vs none"),
    ("backbone", "second_backbone", "diou_grid", "efficientnet-like vs resnet-like (DIoU + grid)"),
)
"""The one-change-at-a-time pairs of Table 2: (name, role a, role b, what a - b measures)."""

ABLATION_METRICS: tuple[str, ...] = ("mean_iou", "loc_accuracy")
"""The per-run metrics (paper §3.5) that `ablation_summary` summarises."""

_PAPER_COLUMN = {"mean_iou": "paper_iou", "loc_accuracy": "paper_loc_accuracy"}


def ablation_variants(backbones: Sequence[str]) -> pd.DataFrame:
    """The Table 2 rows chapter 4 re-runs: (resnet-like) backbones[1] with MSE, DIoU, DIoU + grid; backbones[0] with DIoU + grid.

    Columns: role (`ABLATION_ROLES`), variant, backbone, loss ("mse" or "schedule" = eq. (1)),
    coord_channels, paper_model (the Table 2 row it stands for). backbones: (efficientnet-like,
    resnet-like) timm names, as in `profiles.LocalizationPlan.ablation_backbones`.
    """
    if len(backbones) != 2:
        raise ValueError(f"the ablation needs two backbones (efficientnet-like, resnet-like), got {backbones!r}")
    eff, res = backbones
    rows = [("mse", f"{res} + MSE loss", res, "mse", False, "Resnet-50 + MSE loss"),
            ("diou", f"{res} + DIoU loss", res, "schedule", False, "Resnet-50 + DIoU-loss"),
            ("diou_grid", f"{res} + DIoU loss + coordinate grid", res, "schedule", True,
             "Resnet-50 + DIoU-loss + coordinate grid"),
            ("second_backbone", f"{eff} + DIoU loss + coordinate grid", eff, "schedule", True,
             "EfficientNet-V2-S + DIoU-loss + coordinate grid")]
    return pd.DataFrame(rows, columns=["role", "variant", "backbone", "loss", "coord_channels", "paper_model"])


def ablation_seeds(n_seeds: int, base_seed: int = 0) -> tuple[int, ...]:
    """The seeds of an ablation over `n_seeds` seeds: base_seed, base_seed + 1, ... (the chapter's seed first)."""
    if n_seeds < 1:
        raise ValueError(f"the ablation needs at least one seed, got {n_seeds}")
    return tuple(int(base_seed) + i for i in range(int(n_seeds)))


def run_ablation(train: HandSet, test: HandSet, base: LocalizerConfig, backbones: Sequence[str], *,
                 epochs: int, n_hands: Optional[int] = None, seeds: Optional[Sequence[int]] = None,
                 roles: Optional[Sequence[str]] = None, cache: Union[str, Path, None] = None,
                 progress: bool = True) -> pd.DataFrame:
    """Train each `ablation_variants` row once per seed and measure it on `test` (Table 2 at this profile's scale).

    base: the config the variants start from (input size, head, lr, augmentation). Each run trains
    `epochs` epochs on the first `n_hands` training hands (all if None), with the MSE -> DIoU
    switch at the same fraction of the run as in `base`, and `seed` in place of base.seed (None =
    just base.seed). roles: the `ABLATION_ROLES` to run (None = all four), so that a chapter can
    give each variant a cell of its own. cache: a folder where each finished run's row is kept as
    JSON (`ablation_run_key`: the code, the run's config and the hands); a run found there is not
    trained again, so an interrupted chapter continues where it stopped. One tqdm bar counts the
    runs. Returns one row per (variant, seed), in `ABLATION_ROLES` order then seed order: the
    variant's columns, seed, loc_accuracy, mean_iou, parameters, seconds (wall) and cpu_seconds
    (`time.process_time`, all threads; a cached run keeps the times it took), then the paper's
    numbers. CPU training is bit-reproducible: the same call gives the same metrics.
    """
    from tqdm.auto import tqdm

    seeds = (base.seed,) if seeds is None else tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"the seeds must be distinct and at least one, got {seeds!r}")
    variants = ablation_variants(backbones)
    if roles is not None:
        unknown = sorted(set(roles) - set(ABLATION_ROLES))
        if unknown or not roles:
            raise ValueError(f"roles must be a non-empty subset of {ABLATION_ROLES}, got {list(roles)!r}")
        variants = variants[variants["role"].isin(roles)]
    subset = train if n_hands is None or n_hands >= len(train) else train.subset(range(int(n_hands)))
    data_key = (subset.digest(), test.digest()) if cache is not None else None
    switch = max(1, int(round(epochs * base.switch_epoch / base.epochs)))
    rows = []
    with tqdm(total=len(variants) * len(seeds), desc="Table 2 ablation (runs)", disable=not progress) as bar:
        for seed in seeds:
            for v in variants.itertuples(index=False):
                cfg = base.replace(backbone=v.backbone, loss=v.loss, coord_channels=bool(v.coord_channels),
                                   epochs=int(epochs), switch_epoch=switch, seed=seed)
                path = None if cache is None else Path(cache) / f"ablation-run-{ablation_run_key(cfg, *data_key)}.json"
                row = cached_json(path, lambda: _train_run(subset, test, cfg), required=ABLATION_METRICS)
                rows.append({**v._asdict(), "seed": seed, **row})
                bar.set_postfix(run=f"{v.role}, seed {seed}", iou=f"{row['mean_iou']:.3f}")
                bar.update()
    table = pd.DataFrame(rows).merge(PAPER_TABLE2, on="paper_model", how="left")
    order = table["role"].map({r: i for i, r in enumerate(ABLATION_ROLES)})
    return table.assign(_order=order).sort_values(["_order", "seed"]).drop(columns="_order").reset_index(drop=True)


def ablation_run_key(config: LocalizerConfig, train_digest: str, test_digest: str) -> str:
    """Names one cached ablation run: the localisation and training code, the run's config, both hand sets."""
    from .. import localize, training

    return content_key(source_fingerprint(localize, training), config, train_digest, test_digest)


def _train_run(train: HandSet, test: HandSet, config: LocalizerConfig) -> dict[str, float]:
    """One ablation run: metrics on `test`, parameter count, wall and CPU seconds."""
    cpu = time.process_time()
    result = train_localizer(train, config, progress=False)
    metrics = evaluate(result.model, test)
    return {**metrics, "parameters": count_parameters(result.model), "seconds": result.seconds,
            "cpu_seconds": time.process_time() - cpu}


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its Student-t interval (`stats.cohorts.t_interval`).

    t is the (1 + level) / 2 quantile of Student's t with n - 1 degrees of freedom, sd the sample
    standard deviation (ddof 1). One value gives (value, nan, nan): no spread can be measured.
    Missing values are dropped; none left raises ValueError.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("no values to average")
    if x.size == 1:
        return float(x[0]), math.nan, math.nan
    return t_interval(x, level)


def _check_runs(runs: pd.DataFrame) -> None:
    """A `run_ablation` table: role, seed and the metrics present, each (role, seed) once."""
    missing = [c for c in ("role", "seed", *ABLATION_METRICS) if c not in runs.columns]
    if missing:
        raise ValueError(f"the ablation table lacks columns {missing}; make it with run_ablation")
    if runs.duplicated(["role", "seed"]).any():
        raise ValueError("the ablation table holds a (role, seed) pair twice")


def ablation_summary(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per variant of a `run_ablation` table (`ABLATION_ROLES` order): the means over seeds with intervals.

    Columns: role, variant, backbone, paper_model, n_seeds, then per metric m in `ABLATION_METRICS`
    m (the mean), m_sd, m_low, m_high (`mean_interval` at `level`), then paper_iou and
    paper_loc_accuracy.
    """
    _check_runs(runs)
    rows = []
    for role in [r for r in ABLATION_ROLES if r in set(runs["role"])]:
        part = runs[runs["role"] == role]
        first = part.iloc[0]
        row = {k: first[k] for k in ("role", "variant", "backbone", "paper_model") if k in part.columns}
        row["n_seeds"] = len(part)
        for m in ABLATION_METRICS:
            mean, low, high = mean_interval(part[m], level)
            sd = float(part[m].std(ddof=1)) if len(part) > 1 else math.nan
            row.update({m: mean, f"{m}_sd": sd, f"{m}_low": low, f"{m}_high": high})
        rows.append(row)
    return pd.DataFrame(rows).merge(PAPER_TABLE2, on="paper_model", how="left")


def ablation_differences(runs: pd.DataFrame, metric: str = "mean_iou", level: float = 0.95) -> pd.DataFrame:
    """The `ABLATION_COMPARISONS` as paired differences over seeds: a - b on the same seed, then its mean and interval.

    On one seed both variants of a pair see the same hands in the same order with the same
    augmentations (and, on one backbone, the same initial weights), so the per-seed difference
    removes much of the run-to-run noise the variants share. Only seeds present for both roles
    count. Columns: comparison, a, b, what, n_seeds, diff (mean of a - b), diff_low, diff_high
    (`mean_interval`), paper_diff (the same difference in Table 2), verdict (`interval_words`).
    """
    _check_runs(runs)
    if metric not in ABLATION_METRICS:
        raise ValueError(f"metric must be one of {ABLATION_METRICS}, got {metric!r}")
    wide = runs.pivot(index="seed", columns="role", values=metric)
    paper = runs.drop_duplicates("role").set_index("role")[_PAPER_COLUMN[metric]] \
        if _PAPER_COLUMN[metric] in runs.columns else pd.Series(dtype=float)
    rows = []
    for name, a, b, what in ABLATION_COMPARISONS:
        if a not in wide.columns or b not in wide.columns:
            continue
        d = (wide[a] - wide[b]).dropna()
        if d.empty:
            continue
        mean, low, high = mean_interval(d, level)
        rows.append({"comparison": name, "a": a, "b": b, "what": what, "n_seeds": len(d), "diff": mean,
                     "diff_low": low, "diff_high": high,
                     "paper_diff": float(paper.get(a, math.nan) - paper.get(b, math.nan)),
                     "verdict": interval_words(low, high, a=a, b=b)})
    return pd.DataFrame(rows, columns=["comparison", "a", "b", "what", "n_seeds", "diff", "diff_low", "diff_high",
                                       "paper_diff", "verdict"])


def interval_sign(low: float, high: float) -> int:
    """+1 when the interval [low, high] of a difference lies above 0, -1 below, 0 when it holds 0 (or is unknown)."""
    if math.isnan(low) or math.isnan(high):
        return 0
    if low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    return 1 if low > 0 else -1 if high < 0 else 0


def interval_words(low: float, high: float, *, a: str = "a", b: str = "b") -> str:
    """What the interval [low, high] of a difference a - b says, in words: which is higher, or that it cannot tell.

    Above 0: "<a> higher than <b> (interval above 0)"; below 0: the other way round; holding 0:
    "no difference measured at this scale (interval spans 0)"; nan (one seed): "one seed: no interval".
    """
    if math.isnan(low) or math.isnan(high):
        return "one seed: no interval, no ranking"
    sign = interval_sign(low, high)
    if sign > 0:
        return f"{a} higher than {b} (interval above 0)"
    if sign < 0:
        return f"{b} higher than {a} (interval below 0)"
    return "no difference measured at this scale (interval spans 0)"


def ablation_results(table: pd.DataFrame) -> dict[str, pd.Series]:
    """The rows of an ablation by role: {"mse": row, "diou": row, "diou_grid": row, "second_backbone": row}.

    table: an `ablation_summary` (one row per role), or a `run_ablation` table (a "seed" column),
    which is summarised first: each row then holds the means over seeds and their intervals.
    Raises ValueError when a role is missing or appears twice (e.g. a table from elsewhere).
    """
    if "role" not in table.columns:
        raise ValueError("the ablation table has no 'role' column; make it with run_ablation")
    if "seed" in table.columns:
        table = ablation_summary(table)
    counts = table["role"].value_counts()
    bad = [r for r in ABLATION_ROLES if counts.get(r, 0) != 1]
    if bad:
        raise ValueError(f"the ablation table needs exactly one row per role {ABLATION_ROLES}; check {bad}")
    by_role = table.set_index("role")
    return {role: by_role.loc[role] for role in ABLATION_ROLES}


def ablation_headline(runs: Optional[pd.DataFrame], level: float = 0.95) -> dict[str, Optional[float]]:
    """Chapter 4's headline numbers of the ablation (all None when it was skipped: `runs` None).

    ablation_seeds; per role ablation_iou_<role> (the mean IoU over seeds) with ablation_iou_<role>_low
    and _high (its interval); per comparison ablation_iou_diff_<name> (mean paired difference) with
    _low and _high.
    """
    keys = ["ablation_seeds"]
    keys += [f"ablation_iou_{r}{s}" for r in ABLATION_ROLES for s in ("", "_low", "_high")]
    keys += [f"ablation_iou_diff_{c[0]}{s}" for c in ABLATION_COMPARISONS for s in ("", "_low", "_high")]
    if runs is None:
        return dict.fromkeys(keys)
    out: dict[str, Optional[float]] = {"ablation_seeds": int(runs["seed"].nunique())}
    for role, row in ablation_results(ablation_summary(runs, level)).items():
        out.update({f"ablation_iou_{role}{s}": float(row[f"mean_iou{s}"]) for s in ("", "_low", "_high")})
    for row in ablation_differences(runs, "mean_iou", level).itertuples(index=False):
        out.update({f"ablation_iou_diff_{row.comparison}": row.diff, f"ablation_iou_diff_{row.comparison}_low":
                    row.diff_low, f"ablation_iou_diff_{row.comparison}_high": row.diff_high})
    return {k: out.get(k) for k in keys}
