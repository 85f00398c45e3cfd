"""Checkpoints: weights as safetensors, everything else as JSON; no pickle anywhere.

A checkpoint at stem ``<path>`` is two files: ``<path>.safetensors`` (the state dict, with the
format tag in its metadata) and ``<path>.json``: ``{"format": <tag>, "config": <the config
dataclass as JSON>, "extra": {...}, ...header}``. The format tag names what the weights are
for (e.g. "rheumabook.localize/1"), so a loader never builds the wrong model from them.
Both files are written atomically (`rheumabook.cache.atomic_write`); loading checks both exist,
the tag, the header entries the caller expects and the state dict's keys, with clear errors.

Generic over the config: any dataclass (with optional ``to_json`` / ``from_json``) or a dict.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Optional, TypeVar, Union

import torch
from torch import nn

from ..cache import atomic_write, atomic_write_text

__all__ = ["Checkpoint", "checkpoint_paths", "checkpoint_exists", "config_to_json", "config_from_json", "save_checkpoint",
           "read_checkpoint_header", "load_checkpoint"]

C = TypeVar("C")


@dataclass
class Checkpoint(Generic[C]):
    """A loaded checkpoint: the model (eval mode, on the asked device), its config, `extra`, the whole JSON."""

    model: nn.Module
    config: C
    extra: dict
    header: dict


def checkpoint_paths(path: Union[str, Path]) -> tuple[Path, Path]:
    """(weights, header) paths of the checkpoint at stem `path`: `<stem>.safetensors` and `<stem>.json`.

    A ".safetensors" or ".json" suffix on `path` is dropped first, so either file names the pair.
    """
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def checkpoint_exists(path: Union[str, Path]) -> bool:
    """True when the checkpoint at stem `path` is complete: both files there.

    `save_checkpoint` removes the old JSON first and writes the new one last, so a save that was
    interrupted (a killed kernel, a timeout) leaves no pair that looks complete: the caller trains again.
    """
    return all(p.is_file() for p in checkpoint_paths(path))


def config_to_json(config: Any) -> dict:
    """A JSON-ready dict of a config: its ``to_json()``, else `dataclasses.asdict`, else a copy of the dict."""
    if hasattr(config, "to_json"):
        return config.to_json()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise ValueError(f"a checkpoint's config must be a dataclass or a dict, got {type(config).__name__}")


def config_from_json(config_type: Callable[..., C], data: dict) -> C:
    """Inverse of `config_to_json`: ``config_type.from_json(data)``, else ``config_type(**data)``."""
    if hasattr(config_type, "from_json"):
        return config_type.from_json(data)
    return config_type(**data)


def save_checkpoint(path: Union[str, Path], model: nn.Module, config: Any, *, format: str,
                    extra: Optional[dict] = None, **header: Any) -> Path:
    """Save `model`'s weights and `config` as the checkpoint at stem `path`; returns the weights' path.

    format: the tag `load_checkpoint` will insist on. extra: free JSON (metrics, timings; numpy
    numbers become floats). header: more top-level JSON entries a loader may check (e.g. the
    joint order the model's outputs follow); the names "format", "config", "extra" are taken.
    Under torchrun only process 0 writes (every process holds the same weights); the others return
    the same path without touching the disk.
    """
    from safetensors.torch import save_file

    from .distributed import is_main

    weights, meta = checkpoint_paths(path)
    if not is_main():
        return weights
    doc = {"format": format, "config": config_to_json(config), **header, "extra": extra or {}}
    text = json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta.unlink(missing_ok=True)  # the JSON comes last: until it is there, the pair is incomplete
    atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": format}), suffix=".safetensors")
    atomic_write_text(meta, text)
    return weights


def read_checkpoint_header(path: Union[str, Path], *, format: str, expect: Optional[dict] = None) -> dict:
    """The JSON of the checkpoint at stem `path`, checked: both files exist, the tag is `format`, and each
    `expect` entry (name -> value) is what the header holds. FileNotFoundError / ValueError otherwise."""
    weights, meta = checkpoint_paths(path)
    for p in (weights, meta):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; a checkpoint is a .safetensors + .json pair ({weights.name}, "
                                    f"{meta.name})")
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{meta}: not valid JSON ({err}); the checkpoint is damaged, train or copy it again") from None
    if not isinstance(doc, dict) or doc.get("format") != format:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ValueError(f"{meta}: not a {format!r} checkpoint (format {found!r})")
    for key, value in (expect or {}).items():
        if doc.get(key) != value:
            raise ValueError(f"{meta}: {key} is {doc.get(key)!r}, but this code expects {value!r}")
    return doc


def _load_state(weights: Path, format: str) -> dict[str, torch.Tensor]:
    """The state dict in `weights`, after checking the format tag in its safetensors metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(weights), framework="pt") as f:
        found = (f.metadata() or {}).get("format")
    if found != format:
        raise ValueError(f"{weights}: weights tagged {found!r}, expected {format!r}; the .json and "
                         f".safetensors files do not belong together")
    return load_file(str(weights), device="cpu")


def load_checkpoint(path: Union[str, Path], *, format: str, config_type: Callable[..., C],
                    build: Callable[[C], nn.Module], expect: Optional[dict] = None,
                    device: Union[str, torch.device] = "cpu") -> Checkpoint[C]:
    """Load the checkpoint at stem `path`: check it (`read_checkpoint_header`), rebuild the config
    (`config_from_json`), ``build(config)`` the model, load the weights (all keys must match)."""
    doc = read_checkpoint_header(path, format=format, expect=expect)
    weights, meta = checkpoint_paths(path)
    config = config_from_json(config_type, doc["config"])
    model = build(config)
    state = _load_state(weights, format)
    missing, unexpected = model.state_dict().keys() - state.keys(), state.keys() - model.state_dict().keys()
    if missing or unexpected:
        raise ValueError(f"{weights}: the weights do not fit the model its config {meta.name} describes "
                         f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.load_state_dict(state)
    return Checkpoint(model.to(device).eval(), config, doc.get("extra", {}), doc)
