# %% [markdown]
# # Quick
# A trivial workflow for server tests.

# %% tags=["parameters"]
x = 1.0  # oda:Float
n = 2  # oda:Integer ; oda:lower_limit 0 ; oda:upper_limit 1000

# %%
from astropy.table import Table

y = x * n
table = Table({"i": list(range(n)), "value": [x * i for i in range(n)]})
table["value"].unit = "erg"

# %% tags=["outputs"]
y  # oda:Float
table  # oda:ODAAstropyTable
