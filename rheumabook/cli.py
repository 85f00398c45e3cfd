"""The book's command line: ``python -m rheumabook <command> ...``.

    python -m rheumabook score IMAGES... --out results.csv [--models DIR] [--format csv|json]
        [--hands both|left|right] [--device cpu|cuda|auto] [--overlays DIR] [--profile auto|quick|full]
        [--seed 0] [--batch-size 8] [--precision float32|bfloat16] [--grades balanced|calibrated]
        [--no-orientation-check]

``score`` runs the RheumaVIT pipeline (`rheumabook.pipeline.RheumaVIT`) on each radiograph:
seam split, joint boxes, enlarged crops, erosion 0-5 and JSN 0-4 at 42 sites (21 per hand), and
writes one row per (image, hand, joint) with the box, both grades and their class probabilities
(missing where a site has no such score). Radiographs: PNG, JPEG, 8/16-bit TIFF, MetaImage
(.mha/.mhd) or DICOM (rescale, window and MONOCHROME1 honoured). The output is written
atomically: it appears complete or not at all. ``--overlays DIR`` draws each scored radiograph
with its boxes and grades into DIR/<image stem>.png.

Other commands of the book (their own ``--help`` explains them):

    python -m rheumabook.evaluate landmarks ...   the localiser on real single-hand films with joint points
    python -m rheumabook.book run ...              execute the book's chapters

Exit status: 0 every image scored; 1 some images could not be scored (each reported on stderr
with its file and the fix; the others are scored and written, and when none is left no output
file is written); 2 a usage error, or models that are missing or do not fit (nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit statuses: all scored; some inputs failed; usage or model error."""


def _epilog() -> str:
    """The help's closing text: the other commands and the exit statuses (from the module docstring)."""
    text = __doc__.split("Other commands of the book", 1)[1]
    return "other commands of the book" + text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rheumabook``."""
    from .pipeline import FORMATS, GRADES, HAND_CHOICES, PRECISIONS

    parser = argparse.ArgumentParser(prog="python -m rheumabook", description="\n\n".join(__doc__.split("\n\n")[:3]),
                                     epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sc = sub.add_parser("score", help="score radiographs: 42 joints each, erosion and JSN with probabilities",
                        description=__doc__.split("\n\n")[2], epilog=_epilog(),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sc.add_argument("images", nargs="+", type=Path, metavar="IMAGES", help="radiograph files")
    sc.add_argument("--out", required=True, type=Path, help="output file (CSV or JSON, see --format)")
    sc.add_argument("--models", type=Path, default=None,
                    help="folder with the localiser and scorer checkpoints (default <artifacts>/models, where "
                         "chapters 4 and 5 save them)")
    sc.add_argument("--format", choices=FORMATS, default=None, help="csv or json (default: from --out's suffix, else csv)")
    sc.add_argument("--hands", choices=HAND_CHOICES, default="both",
                    help="both (default): bilateral PA films; left or right: films of one patient hand, shown as "
                         "on a bilateral film (a left hand with its thumb on the image's left)")
    sc.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    sc.add_argument("--overlays", type=Path, default=None, help="folder for one overlay figure (PNG) per image")
    sc.add_argument("--profile", default="auto", help="whose checkpoints to look for: quick, full or auto")
    sc.add_argument("--seed", type=int, default=0, help="the seed in the checkpoints' names (default 0)")
    sc.add_argument("--batch-size", type=int, default=8, help="radiographs scored together (default 8)")
    sc.add_argument("--precision", choices=PRECISIONS, default="float32",
                    help="float32 (default) or bfloat16: faster on CPUs with AVX512-BF16/AMX and on GPUs, "
                         "probabilities change by ~0.01")
    sc.add_argument("--grades", choices=GRADES, default="balanced",
                    help="balanced (default, the paper's: the scorer trained on class-balanced batches, best "
                         "per-joint weighted accuracy) or calibrated (re-weighted to the training grades' own "
                         "frequencies: per-patient totals without over-calling healthy joints)")
    sc.add_argument("--no-orientation-check", action="store_true",
                    help="do not refuse films that look upside down (fingers at the bottom)")
    return parser


def _write_overlay(result, folder: Path) -> Path:
    """Draw one result's overlay into `folder`/<stem>.png (written atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from .viz import save_figure

    return save_figure(result.overlay().figure, folder / f"{Path(result.name).stem}.png")


def _score(args: argparse.Namespace) -> int:
    """The ``score`` command (see the module docstring)."""
    from .pipeline import Failure, RheumaVIT, write_results
    from .profiles import resolve_device

    fmt = args.format or ("json" if args.out.suffix.lower() == ".json" else "csv")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    model = RheumaVIT.from_folder(args.models, profile=args.profile, seed=args.seed,
                                  device=resolve_device(args.device), precision=args.precision, grades=args.grades)
    names = [str(p) for p in args.images]
    results = model.score_many(args.images, names=names, hands=args.hands, batch_size=args.batch_size,
                               errors="report", keep_image=args.overlays is not None,
                               check_orientation=not args.no_orientation_check, progress=True)
    scored = [r for r in results if not isinstance(r, Failure)]
    failed = [r for r in results if isinstance(r, Failure)]
    for f in failed:
        print(f"error: {f.message}", file=sys.stderr)
    if not scored:
        print(f"error: none of the {len(results)} image(s) could be scored; {args.out} was not written",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    write_results(args.out, scored, format=fmt, failures=failed)
    for r in scored:
        t = r.totals
        print(f"{r.name}: erosion {t['erosion_total']}, JSN {t['jsn_total']}, total Sharp {t['total_sharp']}")
        if args.overlays is not None:
            _write_overlay(r, args.overlays)
    rows = sum(len(r.table) for r in scored)
    print(f"{len(scored)} of {len(results)} image(s) scored; {rows} rows written to {args.out} ({fmt})"
          + (f"; overlays in {args.overlays}" if args.overlays else ""))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (`EXIT_OK`, `EXIT_SOME_FAILED`, `EXIT_USAGE`)."""
    from .pipeline import InputError, ModelError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error, 0 for --help
        return int(exc.code or 0)
    try:
        return _score(args)
    except (ModelError, InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
