"""The ``dask`` executor: each job is a Dask task that runs the notebook in its own killable
process on a worker (forked from that worker's warm parent, as `LocalExecutor` does).

`executor.DaskExecutor` is the server's side, `plugin.AstroflowWorkerPlugin` the worker's,
`task.run_job` the task of one job, `command` the ``astroflow worker`` command. Its modules
import ``distributed`` (the ``dask`` extra), except `command`: ``astroflow --help`` and the
local executor never pay for it.
"""
