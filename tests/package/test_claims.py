"""ha.Claims: checked statements of a chapter (DESIGN §4)."""

import numpy as np
import pytest
import torch

import hardattn_utils as ha


def test_report_lists_every_claim_when_all_hold():
    claims = ha.Claims()
    assert claims.check("two is more than one", 2 > 1, evidence="2 > 1") is True
    claims.check("a tensor comparison counts", torch.tensor(0.5) < 1)
    claims.check("a NumPy comparison counts", np.float64(0.5) < 1)
    report = claims.report()
    text = repr(report)
    assert text.startswith("3 claims checked, 3 hold")
    assert "✓ two is more than one  [2 > 1]" in text
    assert report._repr_html_().count("<tr>") == 4  # header + three rows


def test_a_false_claim_is_recorded_then_fails_the_report_with_all_failures_listed():
    claims = ha.Claims()
    assert claims.check("one is more than two", 1 > 2, evidence="1 vs 2") is False
    claims.check("holds", True is not False)
    claims.check("zero is negative", 0 < 0)
    assert len(claims.failed) == 2
    with pytest.raises(AssertionError, match="2 of 3 claims do not hold") as info:
        claims.report()
    assert "one is more than two [1 vs 2]" in str(info.value) and "zero is negative" in str(info.value)


def test_a_report_without_claims_fails():
    with pytest.raises(AssertionError, match="no claim"):
        ha.Claims().report()


@pytest.mark.parametrize("condition", [1, 0.3, "yes", None, torch.tensor([True, False])])
def test_condition_must_be_a_boolean(condition):
    with pytest.raises(TypeError, match="condition"):
        ha.Claims().check("x", condition)


def test_statement_and_evidence_are_checked():
    claims = ha.Claims()
    with pytest.raises(ValueError, match="statement"):
        claims.check("  ", True is True)
    with pytest.raises(TypeError, match="evidence"):
        claims.check("x", True is True, evidence=0.5)
    claims.check("x", True is True)
    with pytest.raises(ValueError, match="already checked"):
        claims.check("x", True is True)
