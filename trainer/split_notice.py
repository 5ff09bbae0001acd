"""The identity split, said out loud before training: who is held out, who is left; a refusal when too few are left.

The shared datasets hold out ``trainer/split.toml``'s people.  ``mugshot-train restore-prepare --folder DIR``
holds out every N-th person of your own folder (``--test-every``); on a folder of ten people that is a fifth of
them, so it is a WARNING that names them, not an INFO count.  With fewer than MIN_TRAINING_PEOPLE left, one line
naming the folder refuses the run."""
from __future__ import annotations

import logging
import tomllib
from pathlib import Path

log = logging.getLogger("trainer.split")

SPLIT_FILE = Path(__file__).with_name("split.toml")
MIN_TRAINING_PEOPLE = 3  # a folder that would leave fewer is refused


def load_split(path: Path = SPLIT_FILE) -> set[str]:
    """The shared datasets' people held out of training (validation and evaluation score only them)."""
    return set(tomllib.loads(path.read_text())["test_identities"])


def _names(names: list[str], limit: int = 30) -> str:
    return ", ".join(names) if len(names) <= limit else f"{', '.join(names[:limit])}, ... ({len(names) - limit} more)"


def announce_folder_split(folder: str, people: list[str], held_out: set[str], test_every: int) -> str | None:
    """Warn who of ``folder`` is held out and who is left; return the one-line refusal instead when fewer than
    MIN_TRAINING_PEOPLE would be left to train on."""
    held = sorted(p for p in people if p in held_out)
    left = sorted(p for p in people if p not in held_out)
    if len(left) < MIN_TRAINING_PEOPLE:
        return (f"--folder {folder}: {len(people)} people; holding out {len(held)} for validation "
                f"({', '.join(held) or 'none'}) would leave {len(left)} to train on, fewer than {MIN_TRAINING_PEOPLE}: "
                "add people (one folder DIR/NAME.jpg + DIR/NAME/*.jpg each; about 10 make a good first run)")
    log.warning("split: %s: %d of %d people held out for validation, never trained on (--test-every %d): %s; "
                "%d left to train on: %s", folder, len(held), len(people), test_every, _names(held), len(left),
                _names(left))
    return None


def check_found(folder: str, found: set[str], held_out: set[str]) -> str | None:
    """After detection: the one-line refusal when too few of ``folder``'s training people, or none of its held-out
    people, have a frontal face the box found."""
    left = sorted(found - held_out)
    if len(left) < MIN_TRAINING_PEOPLE:
        return (f"--folder {folder}: a frontal face was found for {len(left)} of the people left to train on "
                f"({', '.join(left) or 'none'}), fewer than {MIN_TRAINING_PEOPLE}: add near-frontal photos "
                "(faces the box calls frontal, |yaw| < 20 degrees)")
    if held_out and not found & held_out:
        return (f"--folder {folder}: no frontal face was found for the people held out for validation "
                f"({', '.join(sorted(held_out))}): add near-frontal photos of them")
    return None
