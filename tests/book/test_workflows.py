"""Supply chain: workflow actions pinned to commit SHAs, least permissions, safe checkpoint loading."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(
    r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>[0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$"
)


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _triggers(workflow: dict) -> dict:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    return {triggers: None} if isinstance(triggers, str) else dict(triggers)


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


WORKFLOW_FILES = sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))


def test_the_two_workflows_exist():
    assert {"test.yml", "pages.yml"} <= set(WORKFLOW_FILES)


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version_in_a_comment(name):
    lines = [
        line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*-?\s*uses:", line)
    ]
    assert lines, f"{name} uses no action"
    unpinned = [line.strip() for line in lines if not PINNED.match(line)]
    assert not unpinned, f"{name}: not pinned as `owner/repo@<40-hex sha> # vX.Y.Z`: {unpinned}"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_least_privilege_read_only_by_default_and_no_risky_triggers(name):
    workflow = _workflow(name)
    assert workflow.get("permissions") == {"contents": "read"}, f"{name}: top-level permissions"
    assert "pull_request_target" not in _triggers(workflow)
    assert "concurrency" in workflow, f"{name}: no concurrency group"
    for step in _steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"{name}: checkout keeps the token"
            )


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_write_permissions_only_on_the_pages_deploy_job(name):
    for job_name, job in _workflow(name)["jobs"].items():
        permissions = job.get("permissions", {})
        assert permissions != "write-all"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        if not writes:
            continue
        uses = [step.get("uses", "") for step in job.get("steps", [])]
        assert writes == {"pages", "id-token"}, f"{name}/{job_name} writes {writes}"
        assert any(u.startswith("actions/deploy-pages@") for u in uses), f"{name}/{job_name} does not deploy"


def test_test_workflow_runs_make_test_on_pull_requests_and_pushes_with_chromium():
    workflow = _workflow("test.yml")
    assert {"pull_request", "push"} <= set(_triggers(workflow))
    steps = _steps(workflow)
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make test" in runs and "chromium chromium-driver" in runs
    # Python 3.11 on Debian (whose chromium packages are real binaries, unlike Ubuntu's snaps)
    assert workflow["jobs"]["test"]["container"] == "python:3.11-bookworm"


def test_pages_workflow_builds_the_book_and_deploys_it_from_main():
    workflow = _workflow("pages.yml")
    assert _triggers(workflow)["push"]["branches"] == ["main"]
    steps = _steps(workflow)
    assert any("make book" in step.get("run", "") for step in steps)
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"


# ----------------------------------------------------------- checkpoint loading


def unsafe_torch_loads(source: str) -> list[int]:
    """Line numbers of ``torch.load(...)`` calls without ``weights_only=True``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # e.g. IPython magics: fall back to text
        return [i + 1 for i, line in enumerate(source.splitlines()) if _unsafe_line(line)]
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"
        ):
            safe = any(
                k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if not safe:
                lines.append(node.lineno)
    return lines


def _unsafe_line(line: str) -> bool:
    return "torch.load(" in line and "weights_only=True" not in line


def _sources() -> list[tuple[str, str]]:
    sources = [
        (str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "hardattn_utils").rglob("*.py"))
    ]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                text = "".join(cell["source"])
                text = "\n".join(
                    "" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()
                )
                sources.append((f"{notebook.relative_to(ROOT)} cell {index}", text))
    return sources


def test_checkpoints_are_loaded_with_weights_only():
    offenders = {name: lines for name, source in _sources() if (lines := unsafe_torch_loads(source))}
    assert not offenders, f"torch.load without weights_only=True (arbitrary code on unpickling): {offenders}"


@pytest.mark.parametrize(
    ("source", "unsafe"),
    [
        ("state = torch.load(path)", True),
        ("state = torch.load(path, weights_only=False)", True),
        ("state = torch.load(path, map_location='cpu', weights_only=True)", False),
        ("%time x = torch.load(p)", True),
        ("x = np.load(p)", False),
    ],
)
def test_the_torch_load_detector_can_fail(source, unsafe):
    assert bool(unsafe_torch_loads(source)) is unsafe
