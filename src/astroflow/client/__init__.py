"""The astroflow Python client: services, jobs and products of a server, from Python.

Configuration comes from ``ASTROFLOW_URL`` and ``ASTROFLOW_TOKEN`` (or
``~/.config/astroflow/token``); see :class:`Client`.
"""

from astroflow.client.client import Client
from astroflow.client.errors import (
    ApiError,
    AuthError,
    ClientError,
    FieldProblem,
    JobCancelled,
    JobFailed,
    NotFound,
    ServerBusy,
    ServerUnavailable,
    ValidationError,
    WaitTimeout,
)
from astroflow.client.http import Retry
from astroflow.client.job import Job, Progress, RemoteError
from astroflow.client.products import Product, Products
from astroflow.client.services import Output, Parameter, Service, ServiceSummary

__all__ = [
    "ApiError", "AuthError", "Client", "ClientError", "FieldProblem", "Job", "JobCancelled",
    "JobFailed", "NotFound", "Output", "Parameter", "Product", "Products", "Progress",
    "RemoteError", "Retry", "ServerBusy", "ServerUnavailable", "Service", "ServiceSummary",
    "ValidationError", "WaitTimeout",
]
