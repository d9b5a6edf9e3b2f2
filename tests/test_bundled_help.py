"""Every field of every bundled service explains itself in one line (issue 18: forms that
explain themselves): the notebook's ``oda:description`` reaches the JSON Schema the portal
draws its help from."""

from __future__ import annotations

from pathlib import Path

import pytest

from astroflow.workflow import Workflow

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
NOTEBOOKS = sorted(p for folder in WORKFLOWS.iterdir() if folder.is_dir()
                   for p in [*folder.glob("*.ipynb"), *folder.glob("*.py")]
                   if "tags=[\"parameters\"]" in p.read_text() or p.suffix == ".ipynb")


def test_the_bundled_services_are_found():
    assert len(NOTEBOOKS) >= 17, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_parameter_has_a_help_line(path: Path) -> None:
    workflow = Workflow.from_path(path)
    missing = [n for n, p in workflow.parameters.items() if not (p.description or "").strip()]
    assert not missing, f"no help line for {missing}"
    schema = workflow.json_schema()["properties"]
    assert all(schema[name].get("description") for name in workflow.parameters)
