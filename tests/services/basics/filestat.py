# %% [markdown]
# # File statistics
# Counts the lines and bytes of an uploaded text file.

# %% tags=["parameters"]
catalogue = ""  # oda:POSIXPath, oda:optional ; oda:label "Text file"

# %%
from pathlib import Path

if not catalogue:
    raise ValueError("no file given")
data = Path(catalogue).read_bytes()
n_bytes = len(data)
first_line = data.decode(errors="replace").splitlines()[0] if data else ""

# %% tags=["outputs"]
n_bytes  # oda:Integer
first_line  # oda:String
