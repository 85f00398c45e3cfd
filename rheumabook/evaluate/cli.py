"""The command line of the real-image checks.

    python -m rheumabook.evaluate landmarks --images DIR --points CSV [--hand left|right]
        [--profile quick|colab|full|auto] [--seed 0] [--models DIR | --checkpoint STEM] [--out CSV]
        [--overlays DIR]
    python -m rheumabook.evaluate payer-points ALL_CSV OUT_CSV [--images DIR]

``landmarks`` runs the localiser (the profile's, from ``--models`` or ``<artifacts>/models``,
trained there first if absent; or the ``--checkpoint`` given) on every image of the points CSV
and prints, per joint, per image (the ten worst when there are more) and overall, the hit rate
and the median error in MCP3-PIP3 distances, with the average-layout baseline beside them
(`rheumabook.evaluate.landmarks` describes the CSV, the hit rule and ``--hand``). ``--out``
writes the per-point table (and the per-image one beside it, ``<stem>-images.csv``);
``--overlays DIR`` draws each hand with its predicted boxes, green where the labelled point is
hit and red where missed, the points as crosses and a line from each to its box. ``payer-points`` turns the 37-landmark ``setup/all.csv`` of the
Digital Hand Atlas subset into a points CSV (`PAYER_LANDMARKS`). Bad input exits with status 2
and a message naming the file (and line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..data.errors import DatasetError
from .landmarks import HAND_SIDES, HIT_RADIUS, evaluate_landmarks, load_landmark_model, payer_points, read_points

__all__ = ["WORST_IMAGES_SHOWN", "build_parser", "main"]


WORST_IMAGES_SHOWN = 10
"""Images listed on the terminal when there are more (the lowest hit rates first; all of them with --out)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rheumabook.evaluate``."""
    parser = argparse.ArgumentParser(prog="python -m rheumabook.evaluate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lm = sub.add_parser("landmarks", help="hit rate of the localiser on real hands annotated with joint points")
    lm.add_argument("--images", required=True, type=Path, help="folder of single-hand PA radiographs")
    lm.add_argument("--points", required=True, type=Path, help="CSV: image, joint (or landmark), x, y")
    lm.add_argument("--hand", choices=HAND_SIDES, default="left",
                    help="left (default): thumb on the image's right, as the Digital Hand Atlas shows a left hand "
                         "(mirrored for the model); right: thumb on the image's left (used as it is)")
    lm.add_argument("--profile", default="auto", help="quick, colab, full or auto (the profile's localiser)")
    lm.add_argument("--seed", type=int, default=0)
    lm.add_argument("--models", type=Path, default=None,
                    help="folder of the profile's localiser checkpoint (default <artifacts>/models)")
    lm.add_argument("--checkpoint", type=Path, default=None, help="a localiser checkpoint stem instead")
    lm.add_argument("--device", default="auto")
    lm.add_argument("--out", type=Path, default=None, help="write the per-point table to this CSV")
    lm.add_argument("--overlays", type=Path, default=None,
                    help="folder for one PNG per image: its predicted boxes (green hit, red missed) and labelled points")
    pp = sub.add_parser("payer-points", help="points CSV from the 37-landmark all.csv of the development set")
    pp.add_argument("all_csv", type=Path)
    pp.add_argument("out_csv", type=Path)
    pp.add_argument("--images", type=Path, default=None, help="keep only the ids with an image in this folder")
    return parser


def _landmarks(args: argparse.Namespace) -> int:
    from ..profiles import get_profile, resolve_device

    points = read_points(args.points)
    profile, device = get_profile(args.profile), resolve_device(args.device)
    model, config, mean, path = load_landmark_model(profile, seed=args.seed, checkpoint=args.checkpoint,
                                                    models_dir=args.models, device=device)
    report = evaluate_landmarks(args.images, points, model, config, mean, hand=args.hand, device=device,
                                overlays=args.overlays)
    n_images = report.points["image"].nunique()
    print(f"localiser {path.name} ({config.backbone}, input {config.input_size}, framing {config.framing}) on "
          f"{n_images} image(s), {len(report.points)} labelled joints, hand {args.hand!r}")
    print(f"a hit: predicted box centre within {HIT_RADIUS} x the labelled MCP3-PIP3 distance of the point; "
          f"errors: the median distance from the point, in MCP3-PIP3 distances")
    print(report.per_joint().round(3).to_string())
    per_image = report.per_image()
    shown = per_image.drop(index="overall").sort_values("hit_rate")
    if len(shown) > WORST_IMAGES_SHOWN:
        print(f"\nthe {WORST_IMAGES_SHOWN} images with the lowest hit rates (all {len(shown)} with --out):")
        shown = shown.head(WORST_IMAGES_SHOWN)
    else:
        print("\nper image:")
    print(shown.round(3).to_string())
    print(f"hit rate {report.hit_rate:.3f}; average-layout baseline {report.baseline_hit_rate:.3f}; median error "
          f"{per_image.loc['overall', 'median_error_mcp3_pip3']:.3f} (baseline "
          f"{per_image.loc['overall', 'baseline_median_error_mcp3_pip3']:.3f}) MCP3-PIP3 distances")
    if args.overlays is not None:
        print(f"overlays: one PNG per image in {args.overlays}")
    if args.out is not None:
        report.points.to_csv(args.out, index=False)
        images_csv = args.out.with_name(f"{args.out.stem}-images.csv")
        per_image.to_csv(images_csv)
        print(f"per-point table written to {args.out}, per-image table to {images_csv}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with a message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "landmarks":
            return _landmarks(args)
        ids = None
        if args.images is not None:
            ids = sorted({p.stem for p in Path(args.images).iterdir() if p.is_file()})
        payer_points(args.all_csv, ids).to_csv(args.out_csv, index=False)
        print(f"wrote {args.out_csv}")
        return 0
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
