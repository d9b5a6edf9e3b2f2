# %% [markdown]
# # Slow
# Reports progress while it sleeps.

# %% tags=["parameters"]
seconds = 1.0  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 120
tag = "a"  # oda:String

# %%
import time

import astroflow

steps = 10
for i in range(steps):
    astroflow.progress(stage="sleeping", fraction=i / steps, message=f"step {i}")
    time.sleep(seconds / steps)
slept = seconds

# %% tags=["outputs"]
slept  # oda:Float
