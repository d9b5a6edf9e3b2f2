"""The run sandbox: what an untrusted notebook can touch, and for how long.

Layers (each justified in its module; the README's "Security model" sums them up):
an environment allow-list (`environment`), a per-run cgroup (`cgroups`), user and mount
namespaces (`namespaces`), rlimits (`limits`), Landlock file, network and signal rules
(`landlock`), and a subreaper-based kill of the whole process tree (`tree`).
"""

from __future__ import annotations

from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy, format_size, parse_size

__all__ = ["RunLimits", "SandboxPolicy", "format_size", "parse_size"]
