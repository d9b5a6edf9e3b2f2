# %% [markdown]
# # Limited
# Declares its own time limit and overruns it.

# %% tags=["parameters"]
# oda:time_limit 1
seconds = 30.0  # oda:Float

# %%
import time

time.sleep(seconds)

# %% tags=["outputs"]
seconds  # oda:Float
