"""What a caller asks the executor for, and what it gets back.

These are plain dataclasses so that a `RunSpec` pickles into the job folder for the forked
child, and a `RunResult` can be rebuilt from the ``result.json`` the child leaves behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy
from astroflow.ontology.model import ClassInfo

if TYPE_CHECKING:
    from astroflow.products import Product

ErrorKind = Literal["analysis", "bug", "time_limit", "cancelled", "crashed", "memory_limit",
                    "cpu_limit", "process_limit", "output_limit", "sandbox"]
Status = Literal["done", "failed", "cancelled"]


@dataclass
class OutputSpec:
    """A notebook variable to turn into a product once the run succeeds."""

    name: str
    ontology: ClassInfo | None
    title: str | None = None
    description: str | None = None


@dataclass
class RunSpec:
    """One run of an already parameterised notebook."""

    notebook: dict
    outputs: list[OutputSpec]
    job_dir: Path
    source_dir: Path | None = None
    time_limit: float | None = None
    preload: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    keep_scratch: bool = True  # False: the run removes its working folder when it ends
    limits: RunLimits | None = None      # what the workflow declares (within the operator's)
    sandbox: SandboxPolicy | None = None  # None: the run is trusted (a local `astroflow run`)
    coordinator: bool = False  # it waits for sub-jobs: runs beside the parallel-run limit


@dataclass
class Progress:
    """A progress report a notebook sent with `astroflow.progress(...)`."""

    stage: str | None
    fraction: float | None
    message: str | None
    time: float
    substage: str | None = None
    subfraction: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunError:
    """Why a run did not finish.

    ``analysis`` is a result for the user (the notebook raised an ``AnalysisError``);
    ``bug`` is any other exception; ``time_limit``, ``cancelled`` and ``crashed`` say the
    process was stopped or died; the ``*_limit`` kinds name the sandbox limit it hit.
    """

    kind: ErrorKind
    ename: str
    evalue: str
    traceback: str = ""
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ename": self.ename, "evalue": self.evalue,
                "traceback": self.traceback, "cell": self.cell}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunError:
        return cls(kind=data["kind"], ename=data["ename"], evalue=data["evalue"],
                   traceback=data.get("traceback", ""), cell=data.get("cell"))


@dataclass
class RunResult:
    """The outcome of one run, with the products it wrote."""

    status: Status
    error: RunError | None
    products: list[Product]
    notebook_path: Path
    duration: float
    job_dir: Path
