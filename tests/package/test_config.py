"""Seeds, the FULL switch and the device choice (chapter 1 set-up)."""

import pytest
import torch

import hardattn_utils as ha
from hardattn_utils import config


def test_set_seed_makes_draws_reproducible_and_pins_threads():
    gen_a = ha.set_seed(3)
    a = (torch.randn(3), torch.randn(2, generator=gen_a))
    gen_b = ha.set_seed(3)
    b = (torch.randn(3), torch.randn(2, generator=gen_b))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.get_num_threads() == ha.NUM_THREADS


def test_scaled_follows_the_full_switch(monkeypatch):
    monkeypatch.delenv("HARDATTN_FULL", raising=False)
    assert ha.set_full(False) is False
    assert ha.scaled(100) == 100 and ha.scaled(100, 5000) == 100
    assert ha.set_full(True) is True
    assert ha.scaled(100) == 1000 and ha.scaled(100, 5000) == 5000
    ha.set_full(False)


def test_environment_variable_turns_full_on(monkeypatch):
    monkeypatch.setenv("HARDATTN_FULL", "1")
    assert ha.set_full(False) is True
    monkeypatch.delenv("HARDATTN_FULL")
    assert ha.set_full(False) is False


@pytest.mark.parametrize(
    ("bad", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_scaled_rejects_bad_sizes(bad, error):
    with pytest.raises(error, match="quick"):
        config.scaled(bad)


def test_set_seed_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        ha.set_seed(-1)


def test_set_full_is_visible_as_ha_full(monkeypatch):
    monkeypatch.delenv("HARDATTN_FULL", raising=False)
    try:
        assert ha.set_full(True) is True and ha.FULL is True and ha.full() is True
        assert ha.set_full(False) is False and ha.FULL is False
    finally:
        ha.set_full(False)


def test_the_dead_device_promise_is_gone():
    assert not hasattr(ha, "device") and "device" not in ha.__all__


def test_module_and_function_names_resolve_after_an_application_loads():
    """``ha.pointer`` loads ``apps.pointer``, which imports ``seeds``: ``ha.seeds`` stays the function."""
    import subprocess
    import sys

    code = "import hardattn_utils as ha; ha.pointer; ha.glimpses; print(callable(ha.seeds), ha.seeds())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True [0, 1, 2, 3, 4]"


def test_applications_build_on_the_core_only():
    """No core module imports an application (dependencies flow downward)."""
    from pathlib import Path

    root = Path(ha.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "from .apps" not in text or path.name == "__init__.py", path.name
