"""Choices a server can honour: an allowed value whose data are not installed is not offered.

A workflow whose parameter picks a data set (IceCube's ``data_release``) declares in its
``astroflow.yaml`` which file under the server's data folder each value needs::

    installed_choices:
      data_release:
        folder: icecube                      # under the data folder ($ASTROFLOW_DATA_DIR)
        always: [auto, synthetic]            # offered whatever is installed
        when_present:
          10year: 10year/icecube_ps_cache.npz
          3year: 3year/icecube_ps_cache.npz

When the services are loaded, the parameter's allowed values shrink to those offered, so the
form lists what this server has and validation refuses the rest, naming the field, rather
than a run failing on data that are not there. Only file existence is looked at: no
workflow code runs in the server. Data installed later are offered from the next start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("astroflow.registry")


def offered_choices(workflow: Any, declared: Any, data_dir: Path) -> Any:
    """``workflow`` with each declared parameter's allowed values cut to those installed
    under ``data_dir`` (the same workflow when nothing is declared or nothing changes)."""
    if not isinstance(declared, Mapping) or not declared:
        return workflow
    parameters = dict(workflow.parameters)
    for name, rule in declared.items():
        param = parameters.get(name)
        if param is None or param.enum is None or not isinstance(rule, Mapping):
            continue
        offered = _offered(param.enum, rule, Path(data_dir))
        if offered and offered != param.enum and param.default in offered:
            parameters[name] = dataclasses.replace(param, enum=offered)
            log.info("%s: %s offers %s (not installed: %s)", workflow.name, name,
                     ", ".join(map(str, offered)),
                     ", ".join(str(v) for v in param.enum if v not in offered))
    if parameters == workflow.parameters:
        return workflow
    return dataclasses.replace(workflow, parameters=parameters)


def _offered(enum: tuple, rule: Mapping[str, Any], data_dir: Path) -> tuple:
    folder = data_dir / str(rule.get("folder") or "")
    always = {str(v) for v in rule.get("always") or ()}
    needs = rule.get("when_present") or {}
    return tuple(v for v in enum
                 if str(v) in always or str(v) not in needs
                 or (folder / str(needs[str(v)])).is_file())
