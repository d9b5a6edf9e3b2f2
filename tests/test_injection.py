"""Injection payloads in names and values execute nothing: values stay data."""

from __future__ import annotations

import ast

import pytest

from astroflow import ValidationError, Workflow
from astroflow.workflow.inject import INJECTED_TAG, InjectionError, injected_source, render_literal

PAYLOADS = [
    "'; import os; os.system('touch PWNED'); '",
    '"; __import__("os").system("touch PWNED"); "',
    "\nimport os\nos.system('touch PWNED')\n",
    "__import__('os').system('touch PWNED')",
    "''' + __import__('os').getcwd() + '''",
    '""" + str(__import__("os")) + """',
    "\\'; raise SystemExit #",
    "{__import__('os')}",
    "f'{__import__(\"os\")}'",
    "\r\nexec('1')\r\n",
    "\u2028__import__('os')\u2029",
    "naïve ünïcödé ☄ 🚀 \x00 \x1b[31m",
    "x" * 1_000_000,
    "\\",
    "'",
    '"',
    "#",
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_value_payloads_are_literals(payload):
    source = injected_source({"s": None}, {"s": payload})
    tree = ast.parse(source)
    # Exactly one statement: an assignment of a constant to `s`, nothing callable anywhere.
    assert len(tree.body) == 1
    node = tree.body[0]
    assert isinstance(node, ast.Assign) and node.targets[0].id == "s"
    assert isinstance(node.value, ast.Constant) and node.value.value == payload
    assert not any(isinstance(n, (ast.Call, ast.Import, ast.Attribute)) for n in ast.walk(tree))


@pytest.mark.parametrize("value", [
    {"k": ["'); __import__('os')", {"n": None, "t": True, "f": 1.5e-300}]},
    [1, -2, 3.5, "a\nb", None, False, [], {}],
    -0.0,
    10**40,
])
def test_structured_values_round_trip(value):
    literal = render_literal(value)
    assert ast.literal_eval(literal) == value


@pytest.mark.parametrize("bad", [object(), b"bytes", {1: "int key"}, float("nan"), {1, 2}])
def test_non_data_is_refused(bad):
    with pytest.raises(InjectionError):
        render_literal(bad)


@pytest.mark.parametrize("name", ["os.system('x')", "a; import os", "__import__", "x\ny", "undeclared"])
def test_only_declared_names(name):
    with pytest.raises(InjectionError):
        injected_source({"s": None}, {name: 1})


def test_validation_refuses_payload_names(notebook):
    wf = Workflow.from_path(notebook("s = 'a'"))
    with pytest.raises(ValidationError) as info:
        wf.injected_notebook({"s = 1; import os; os.system('x'); s": "a"})
    assert "unknown parameter" in info.value.errors[0].reason


def test_injected_cell_follows_parameters_cell(notebook):
    wf = Workflow.from_path(notebook("s = 'a'\nn = 1", body="t = s * n", markdown="# T"))
    nb = wf.injected_notebook({"s": "'); __import__('os')", "n": "3"})
    cells = nb["cells"]
    params_index = wf.parameters_cell
    injected = cells[params_index + 1]
    assert injected["metadata"]["tags"] == [INJECTED_TAG]
    assert injected["source"].splitlines()[1:] == ["s = \"'); __import__('os')\"", "n = 3"]
    # The workflow's own notebook is untouched.
    assert len(wf.notebook["cells"]) == len(cells) - 1


def test_payload_runs_as_data(notebook, tmp_path):
    """End to end: a hostile value reaches the notebook as a string and nothing runs."""
    marker = tmp_path / "PWNED"
    wf = Workflow.from_path(notebook("s = 'a'", body="length = len(s)", outputs="length"))
    payload = f"'; __import__('os').system('touch {marker}'); '"
    result = wf.run({"s": payload}, job_dir=tmp_path / "job")
    assert result.status == "done", result.error
    assert not marker.exists()
    assert result.products[0].meta["value"] == len(payload)
