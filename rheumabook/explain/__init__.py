"""Explanations of the scoring model: attention rollout for windowed transformers (paper §4.3, Fig. 5).

- capture.py: `capture_attention` records every attention matrix of a timm TinyViT, Swin or
  ViT *with* its relative-position bias and masks, on the fused (SDPA) and unfused paths
  alike, plus the token-mixing steps between them (patch merging, TinyViT's local_conv).
- rollout.py: `attention_rollout` -- Abnar & Zuidema's rollout, "Quantifying Attention Flow
  in Transformers" (ACL 2020), extended to windowed, hierarchical models such as TinyViT
  (Wu et al., "TinyViT: Fast Pretraining Distillation for Small Vision Transformers", ECCV
  2022): windows placed into the full token grid, the flow carried through patch merging,
  read at the token the model pools. On a plain ViT it is the standard CLS-row rollout.
- saliency.py: `gradient_saliency`, the vanilla-gradient baseline (Simonyan et al. 2014).
- region.py: how much of a map's mass falls inside a region (`mass_in_region`,
  `region_mass_ratio`) and the joint box inside an enlarged crop (`joint_region_masks`).
- lesions.py: lesion polygons of the radiograph (`phantom.lesion_geometry`) in a crop's pixels
  (`polygons_in_crop`) and as crop masks (`lesion_masks`, `rasterise_polygons`), the crops' geometry.
- pointing.py: the pointing game (Zhang et al., IJCV 2018): `pointing_hits` ("peak" / "mass"),
  the `centre_prior` baseline, `pointing_table` with patient-bootstrap intervals, `pointing_verdicts`.

Used by chapter 6.
"""
from .capture import AttentionCapture, AttentionRecord, StencilRecord, WindowLayout, attention_probabilities, capture_attention
from .lesions import lesion_masks, polygons_in_crop, rasterise_polygons
from .pointing import POINTING_MODES, centre_prior, pointing_hits, pointing_table, pointing_verdicts
from .region import joint_region_masks, mass_in_region, region_mass_ratio
from .rollout import (HEAD_FUSIONS, LOCAL_CONV_FLOWS, Rollout, attention_rollout, explained_backbone, fuse_heads,
                      layer_attention, normalise_maps, stencil_matrix)
from .saliency import gradient_saliency

__all__ = [
    "capture_attention", "attention_probabilities", "AttentionCapture", "AttentionRecord", "StencilRecord",
    "WindowLayout",
    "attention_rollout", "Rollout", "HEAD_FUSIONS", "LOCAL_CONV_FLOWS", "fuse_heads", "layer_attention",
    "stencil_matrix", "normalise_maps", "explained_backbone",
    "gradient_saliency",
    "mass_in_region", "region_mass_ratio", "joint_region_masks",
    "polygons_in_crop", "rasterise_polygons", "lesion_masks",
    "POINTING_MODES", "pointing_hits", "centre_prior", "pointing_table", "pointing_verdicts",
]
