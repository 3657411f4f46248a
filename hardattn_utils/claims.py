"""Checked statements: every measured sentence of a chapter's prose, as code.

A chapter creates one collector in its set-up cell, checks each statement next to
the measurement that supports it, and ends with a "What this chapter verified"
section that shows :meth:`Claims.report`::

    claims = ha.Claims()
    claims.check("RLOO's variance is below REINFORCE's at equal cost",
                 rloo_var < rf_var, evidence=f"{rloo_var:.3f} < {rf_var:.3f}")
    ...
    claims.report()   # the table; AssertionError listing every failed claim

``check`` never raises for a false claim: the chapter runs to its end, and the
report fails once, listing all of them. Chapter 1 introduces the collector.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

__all__ = ["Claim", "Claims", "ClaimsReport"]


@dataclass(frozen=True)
class Claim:
    """One checked statement: what the prose says, whether it held, and the numbers."""

    statement: str
    holds: bool
    evidence: str


def _as_bool(condition: object) -> bool:
    """A Python, NumPy or one-element torch boolean; anything else is a mistake."""
    if isinstance(condition, bool | np.bool_):
        return bool(condition)
    if isinstance(condition, torch.Tensor) and condition.dtype == torch.bool and condition.numel() == 1:
        return bool(condition.item())
    if isinstance(condition, Integral) and condition in (0, 1):
        raise TypeError("condition must be a bool (a comparison), got an int")
    raise TypeError(f"condition must be a bool (a comparison), got {type(condition).__name__}")


class ClaimsReport:
    """The table that :meth:`Claims.report` shows: plain text and HTML, both stable."""

    def __init__(self, claims: tuple[Claim, ...]) -> None:
        self.claims = claims

    def __repr__(self) -> str:
        lines = [f"{len(self.claims)} claims checked, {sum(c.holds for c in self.claims)} hold"]
        for i, claim in enumerate(self.claims, 1):
            mark = "✓" if claim.holds else "✗"
            lines.append(
                f"{i:>2}. {mark} {claim.statement}" + (f"  [{claim.evidence}]" if claim.evidence else "")
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(c.statement)}</td>"
            f"<td>{html.escape(c.evidence)}</td><td>{'✓' if c.holds else '✗'}</td></tr>"
            for i, c in enumerate(self.claims, 1)
        )
        return (
            '<table class="claims-report"><thead><tr><th></th><th>claim</th><th>evidence</th>'
            f"<th>holds</th></tr></thead><tbody>{rows}</tbody></table>"
        )


class Claims:
    """A chapter's checked statements.

    Attributes:
        started: ``time.perf_counter()`` when the collector was made (the chapter's
            start, for the reproducibility footer).
    """

    def __init__(self) -> None:
        self._claims: list[Claim] = []
        self.started = time.perf_counter()

    def check(self, statement: str, condition: object, evidence: str = "") -> bool:
        """Record whether ``statement`` holds; never raises for a false one.

        Args:
            statement: the sentence of the prose, as the reader reads it.
            condition: a bool computed from the measurement (a comparison).
            evidence: the numbers behind it, formatted (``f"{a:.3f} < {b:.3f}"``).

        Returns:
            Whether it holds.

        Raises:
            TypeError: if ``statement`` or ``evidence`` is not a string, or
                ``condition`` is not a boolean.
            ValueError: if ``statement`` is empty or was checked before.
        """
        if not isinstance(statement, str):
            raise TypeError(f"statement must be a str, got {type(statement).__name__}")
        if not statement.strip():
            raise ValueError("statement must not be empty")
        if not isinstance(evidence, str):
            raise TypeError(f"evidence must be a str, got {type(evidence).__name__}")
        if any(c.statement == statement for c in self._claims):
            raise ValueError(f"statement was already checked: {statement!r}")
        holds = _as_bool(condition)
        self._claims.append(Claim(statement, holds, evidence))
        return holds

    @property
    def claims(self) -> tuple[Claim, ...]:
        """Every claim checked so far, in order."""
        return tuple(self._claims)

    @property
    def failed(self) -> tuple[Claim, ...]:
        """The claims that did not hold."""
        return tuple(c for c in self._claims if not c.holds)

    def __len__(self) -> int:
        return len(self._claims)

    def report(self) -> ClaimsReport:
        """The table of claims (claim, evidence, ✓).

        Raises:
            AssertionError: listing every claim that did not hold, or if none was checked.
        """
        if not self._claims:
            raise AssertionError("no claim was checked")
        if self.failed:
            listed = "\n".join(f"- {c.statement} [{c.evidence}]" for c in self.failed)
            raise AssertionError(f"{len(self.failed)} of {len(self)} claims do not hold:\n{listed}")
        return ClaimsReport(self.claims)
