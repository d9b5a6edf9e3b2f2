# %% [markdown]
# # Blob
# Writes ``size`` bytes as a product: a result of a known size, for storage tests.

# %% tags=["parameters"]
size = 1000  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 10000000
tag = "a"  # oda:String

# %%
# ruff: noqa: E402, B018 - a notebook as its author writes it
import numpy as np
from astropy.table import Table

table = Table({"value": np.zeros(size // 8)})

# %% tags=["outputs"]
table  # oda:ODAAstropyTable
