"""Load a saved model if it is current, else train it and save it: the one recipe of every stage.

The localiser (chapter 4), the scorer (chapter 5), the pretraining U-Net and the pretrained scorer
(chapter 6) are each kept as checkpoints under ``<artifacts>/models/``, so that a later chapter, or
a rerun, does not train them again. They all follow `load_or_train`:

1. The checkpoint counts only when it is complete (`checkpoint_exists`, plus any files saved
   beside it) and its JSON records the same *provenance*, a `cache.content_key` of everything
   that shapes the model (code, configs, data). The provenance is read from the header alone,
   before any weights load.
2. A current one is loaded; a stale, damaged or incomplete one is trained again and overwritten;
   each case says which, with paths relative to the artifacts folder (`cache.display_path`).
3. The caller's `save` receives the provenance to record, so every stage records it the same way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar, Union

from ..cache import display_path
from .checkpoint import checkpoint_exists, checkpoint_paths, read_checkpoint_header
from .distributed import barrier, is_main

__all__ = ["saved_provenance", "load_or_train"]

T = TypeVar("T")
PathLike = Union[str, Path]


def _say(text: str) -> None:
    """Print once: in process 0 under torchrun, always in a single process."""
    if is_main():
        print(text)


def saved_provenance(stem: PathLike, *, format: str) -> Optional[str]:
    """The provenance recorded in the checkpoint at `stem` (its JSON's ``extra.provenance``).

    None when there is none to trust: the pair is incomplete, the JSON is damaged or of another
    format, or it records no provenance (saved by older code).
    """
    if not checkpoint_exists(stem):
        return None
    try:
        header = read_checkpoint_header(stem, format=format)
    except (OSError, ValueError):
        return None
    extra = header.get("extra")
    found = extra.get("provenance") if isinstance(extra, dict) else None
    return found if isinstance(found, str) and found else None


def load_or_train(stems: Union[PathLike, Sequence[PathLike]], *, format: str, provenance: str, what: str,
                  load: Callable[[], T], train: Callable[[], T], save: Callable[[T, dict], object],
                  beside: Sequence[PathLike] = (), loaded_note: Callable[[T], str] = lambda _: "",
                  training_note: str = "") -> T:
    """The model at `stems` if it is saved and current, else `train()` saved with `save`.

    stems: the checkpoint stem, or several when one result is several checkpoints (an independent
    scorer's per-kind models); all must be complete. beside: other files the save writes (e.g. the
    pretrained encoder alone); all must exist. format: the checkpoint format tag. provenance: what the
    first stem's JSON must record to be current. what: the model's name in messages ("localiser").
    load() -> the saved result; train() -> a new one; save(result, extra) stores it, `extra` (to merge
    into the checkpoint's JSON extra) holding the provenance. loaded_note(result): a few words after
    "Loaded the <what> from <path>" (e.g. the backbone); training_note: what training now involves.
    """
    stems = [stems] if isinstance(stems, (str, Path)) else list(stems)
    if not stems:
        raise ValueError("load_or_train needs at least one checkpoint stem")
    if not provenance:
        raise ValueError("load_or_train needs a provenance: a content key of what shapes the model")
    shown = display_path(checkpoint_paths(stems[0])[0])
    complete = all(checkpoint_exists(s) for s in stems) and all(Path(p).is_file() for p in beside)
    if complete and saved_provenance(stems[0], format=format) == provenance:
        result = load()
        note = loaded_note(result)
        _say(f"Loaded the {what} from {shown}{f' ({note})' if note else ''}.")
        return result
    if complete:
        _say(f"The {what} at {shown} was made by other code, settings or data than the profile's now: "
              f"training it again.")
    else:
        _say(f"No saved {what} at {shown}: training it now{f' ({training_note})' if training_note else ''}.")
    result = train()
    if is_main():  # torchrun: one process writes, the others wait until it has
        save(result, {"provenance": provenance})
    barrier()
    return result
