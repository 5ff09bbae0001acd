"""Paired statistics of the evaluation: rank-1 and margin splits of two models over the same probes,
McNemar's exact test and Wilson intervals, and the markdown tables they print as."""
from __future__ import annotations

import math

import numpy as np


def paired_table(rows: list[dict], labels: tuple[str, ...]) -> list[str]:
    """Markdown rows of ``paired()`` results: the ``labels`` columns, then one per probe group."""
    groups = [g for g in rows[0] if g not in ("model", "reference")]
    lines = ["| " + " | ".join(labels + tuple(groups)) + " |", "|---" * (len(labels) + len(groups)) + "|"]
    return lines + ["| " + " | ".join([row[k] for k in labels] + [split_text(row[g]) for g in groups]) + " |"
                    for row in rows]


def paired(per_probe: dict[str, dict[str, list]], references: list[str], split) -> list[dict]:
    """Every model against each reference (each pair once, none with itself) on the same
    probes: ``split(model's values, reference's values)`` per group."""
    rows = []
    for i, reference in enumerate(references):
        for name, groups in per_probe.items():
            if name not in references[:i + 1] and groups:
                rows.append({"model": name, "reference": reference,
                             **{group: split(ours, per_probe[reference][group]) for group, ours in groups.items()}})
    return rows


def rank1_split(found: list[bool], theirs: list[bool]) -> dict:
    """How many probes only the model identifies (wins), how many only the reference (losses),
    and the exact two-sided McNemar p of that split (the chance of one at least as lopsided if
    both were equally good)."""
    wins = sum(a and not b for a, b in zip(found, theirs))
    losses = sum(b and not a for a, b in zip(found, theirs))
    return {"wins": wins, "losses": losses, "p": mcnemar_exact(wins, losses)}


def margin_split(ours: list[float], theirs: list[float]) -> dict:
    """The mean change of the identity margin (positive: the model's output is more clearly the
    person), how many probes got better and how many worse, and the exact two-sided sign-test
    p of that split (the same binomial as McNemar's)."""
    change = np.subtract(ours, theirs)
    better, worse = int((change > 0).sum()), int((change < 0).sum())
    return {"change": float(change.mean()) if len(change) else float("nan"),
            "better": better, "worse": worse, "p": mcnemar_exact(better, worse)}


def split_text(split: dict) -> str:
    """One paired comparison: ``+wins -losses (p ...)`` of rank-1, or ``change (better/worse, p ...)``
    of the margin."""
    p = split["p"]
    p_text = "p < 0.001" if p < 0.001 else f"p {p:.3f}" if p < 0.05 else f"p {p:.2f}"
    if "change" in split:
        return f"{split['change']:+.3f} ({split['better']} better, {split['worse']} worse, {p_text})"
    return f"+{split['wins']} -{split['losses']} ({p_text})"


def summary_tables(rows: dict[str, dict], names: list[str]) -> list[str]:
    """Markdown of the summary rows ``names``: image quality and rank-1 in one table, the
    identity margins (if measured) in a second."""
    columns = list(next(iter(rows.values())).keys())
    lines = []
    for chosen in ([c for c in columns if not c.startswith("margin ")],
                   [c for c in columns if c.startswith("margin ")]):
        if chosen:
            lines += ["| model | " + " | ".join(chosen) + " |", "|---" * (len(chosen) + 1) + "|",
                      *(f"| {name} | " + " | ".join(f"{rows[name][c]:.3f}" for c in chosen) + " |"
                        for name in names), ""]
    return lines


def mcnemar_exact(wins: int, losses: int) -> float:
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def wilson(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion measured on n trials."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)
