"""Say the identity split out loud before training: who is held out, who is left; refuse when too few are left.

``mugshot-train prepare`` holds people out for evaluation (never trained on); ``fit`` may hold more out for
validation (config ``validation``).  On a folder of ten people that is a fifth of them, so it is a WARNING that
names them, not an INFO count; with too few left (prepare: MIN_TRAINING_PEOPLE, fit: MIN_FIT_PEOPLE after
validation), one line refuses the run."""
from __future__ import annotations

import logging

from .config import TrainConfigError

log = logging.getLogger("trainer.split")

MIN_TRAINING_PEOPLE = 3  # prepare: a folder that would leave fewer is refused
MIN_FIT_PEOPLE = 1  # fit: the tests' tiny caches train on two people and validate on one of them


def _names(names: list[str], limit: int = 30) -> str:
    return ", ".join(names) if len(names) <= limit else f"{', '.join(names[:limit])}, ... ({len(names) - limit} more)"


def announce_prepare_split(sources, held_out: set[str], test_every: int) -> str | None:
    """prepare: warn who is held out for evaluation and who is left; the one-line refusal (returned) when fewer
    than MIN_TRAINING_PEOPLE would be left."""
    people = sorted({p.rsplit(":", 1)[0] if p.startswith("p04:") else p for s in sources for p in s.frontals})
    held = sorted(p for p in people if p in held_out)
    left = [p for p in people if p not in held_out]
    if len(left) < MIN_TRAINING_PEOPLE:
        return (f"split: {len(people)} people; holding out {len(held)} for evaluation ({', '.join(held)}) would leave "
                f"{len(left)} to train on, fewer than {MIN_TRAINING_PEOPLE}: add people (about 10 make a good "
                "first run)")
    log.warning("split: %d of %d people held out for evaluation, never trained on (--test-every %d): %s; "
                "%d left to train on: %s", len(held), len(people), test_every, _names(held), len(left), _names(left))
    return None


def announce_fit_split(cache, cache_path, test_ids: set[str], val_ids: set[str], pairs: int) -> None:
    everyone = sorted({str(i) for i in cache.identities} | {str(i) for i in cache.frontal_ids})
    held = sorted(i for i in everyone if i in test_ids)
    validation = sorted(i for i in everyone if i in val_ids)
    left = sorted(i for i in everyone if i not in test_ids and i not in val_ids)
    if len(left) < MIN_FIT_PEOPLE:
        raise TrainConfigError(f"split: {cache_path}: of {len(everyone)} people, {len(held)} are held out for "
                               f"evaluation and {len(validation)} for validation, leaving {len(left)} to train on; "
                               "add people or lower 'validation'")
    log.warning("split: training on %d people (%d pairs): %s; held out for evaluation, never trained on (%d): %s%s",
                len(left), pairs, _names(left), len(held), _names(held) or "none",
                f"; held out for validation (config 'validation', {len(validation)}): {_names(validation)}"
                if validation else "")
