"""Checks of the book's models on real images that readers can run (issue 9).

- landmarks.py: the localiser on single-hand radiographs annotated with joint points
  (`evaluate_landmarks`, `read_points`, `payer_points`, the hit rule `HIT_RADIUS`, the
  average-layout baseline); cli.py: ``python -m rheumabook.evaluate landmarks --images DIR
  --points CSV`` (and ``payer-points`` to convert the development set's landmark table).

Nothing in the book, its tests or CI needs real images: the tests build a small synthetic
"real" set from phantom hands.
"""
from .cli import main
from .landmarks import (HAND_SIDES, HIT_RADIUS, PAYER_LANDMARKS, POINT_COLUMNS, LandmarkReport, evaluate_landmarks,
                        find_image, load_landmark_model, payer_points, predict_hand_boxes, read_points, score_points)

__all__ = ["HIT_RADIUS", "POINT_COLUMNS", "HAND_SIDES", "PAYER_LANDMARKS", "read_points", "payer_points", "find_image",
           "LandmarkReport", "predict_hand_boxes", "score_points", "evaluate_landmarks", "load_landmark_model", "main"]
