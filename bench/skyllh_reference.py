"""SkyLLH 26.1, the reference implementation, as the IceCube benchmarks run it.

It lives in its own virtual environment (env SKYLLH_PYTHON, default
/tmp/skyllh-venv/bin/python: `python3 -m venv /tmp/skyllh-venv &&
/tmp/skyllh-venv/bin/pip install skyllh==26.1.0`); each benchmark sends it a script that
starts with `DATASETS` (the release under `args["root"]`, read as SkyLLH's
`PublicData_10y_ps`) and prints one JSON document.
"""

from __future__ import annotations

import os

SKYLLH_PYTHON = os.environ.get("SKYLLH_PYTHON", "/tmp/skyllh-venv/bin/python")

# Imports, arguments and the release's datasets: the common head of every SkyLLH script.
DATASETS = r"""
import json, os, sys, time
import numpy as np
from skyllh.analyses.i3.publicdata_ps.time_integrated_ps import create_analysis
from skyllh.core.config import Config
from skyllh.core.random import RandomStateService
from skyllh.core.source_model import PointLikeSource
from skyllh.datasets.i3 import PublicData_10y_ps
args = json.loads(sys.argv[1])
root = args["root"]
cfg = Config()
dsc = PublicData_10y_ps.create_dataset_collection(
    cfg=cfg, base_path=os.path.dirname(root), sub_path_fmt=os.path.basename(root))
datasets = dsc["IC40", "IC59", "IC79", "IC86_I", "IC86_II-VII"]
"""
