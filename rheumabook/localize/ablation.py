"""The Table 2 ablation (paper §4.1) at a profile's scale: loss, coordinate grid and backbone, one change at a time.

`ablation_variants` names the four regression rows re-run (each with a `role`), `run_ablation`
trains and measures them, `ablation_results` and `ablation_headline` read the results by role
(never by position). `PAPER_TABLE2` holds the paper's numbers to print beside them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import pandas as pd

from ..profiles import LocalizerConfig
from .hands import HandSet
from .model import count_parameters
from .train import evaluate, train_localizer

__all__ = ["PAPER_TABLE2", "ABLATION_ROLES", "ablation_variants", "run_ablation", "ablation_results",
           "ablation_headline"]

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


def run_ablation(train: HandSet, test: HandSet, base: LocalizerConfig, backbones: Sequence[str], *,
                 epochs: int, n_hands: Optional[int] = None, progress: bool = True) -> pd.DataFrame:
    """Train each `ablation_variants` row briefly and measure it on `test` (a Table 2 at this profile's scale).

    base: the config the variants start from (input size, head, lr, augmentation, seed). Each run
    trains `epochs` epochs on the first `n_hands` training hands (all if None); the MSE -> DIoU
    switch is scaled to the same fraction of the run as in `base`. Returns the variants with
    loc_accuracy, mean_iou, parameters and seconds, the paper's numbers beside them.
    """
    subset = train if n_hands is None or n_hands >= len(train) else train.subset(range(int(n_hands)))
    switch = max(1, int(round(epochs * base.switch_epoch / base.epochs)))
    rows = []
    for v in ablation_variants(backbones).itertuples(index=False):
        cfg = base.replace(backbone=v.backbone, loss=v.loss, coord_channels=bool(v.coord_channels),
                           epochs=int(epochs), switch_epoch=switch)
        result = train_localizer(subset, cfg, progress=progress, desc=f"ablation: {v.variant}")
        rows.append({**v._asdict(), **evaluate(result.model, test), "parameters": count_parameters(result.model),
                     "seconds": result.seconds})
    return pd.DataFrame(rows).merge(PAPER_TABLE2, on="paper_model", how="left")


def ablation_results(table: pd.DataFrame) -> dict[str, pd.Series]:
    """The rows of a `run_ablation` table by role: {"mse": row, "diou": row, "diou_grid": row, "second_backbone": row}.

    Raises ValueError when a role is missing or appears twice (e.g. a table from elsewhere).
    """
    if "role" not in table.columns:
        raise ValueError("the ablation table has no 'role' column; make it with run_ablation")
    counts = table["role"].value_counts()
    bad = [r for r in ABLATION_ROLES if counts.get(r, 0) != 1]
    if bad:
        raise ValueError(f"the ablation table needs exactly one row per role {ABLATION_ROLES}; check {bad}")
    by_role = table.set_index("role")
    return {role: by_role.loc[role] for role in ABLATION_ROLES}


def ablation_headline(table: Optional[pd.DataFrame]) -> dict[str, Optional[float]]:
    """Chapter 4's headline numbers of the ablation: {"ablation_iou_<role>": mean IoU} for each role;
    all None when the ablation was skipped (`table` None)."""
    if table is None:
        return {f"ablation_iou_{role}": None for role in ABLATION_ROLES}
    return {f"ablation_iou_{role}": float(row["mean_iou"]) for role, row in ablation_results(table).items()}
