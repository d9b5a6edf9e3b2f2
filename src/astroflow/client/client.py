"""The Python client: every action of the portal, from a script or a notebook.

>>> client = Client()                          # ASTROFLOW_URL / ASTROFLOW_TOKEN
>>> client.service("quick").help()
>>> job = client.run("quick", x=2.5, n=3)      # submit, wait, raise JobFailed on failure
>>> job.products["table"].to_astropy()
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from astroflow.client.config import find_token, server_url
from astroflow.client.errors import ServerBusy, ValidationError, WaitTimeout
from astroflow.client.follow import long_poll, remaining
from astroflow.client.http import Http, Retry
from astroflow.client.job import Job
from astroflow.client.progressbar import ProgressOption, batch_display
from astroflow.client.services import Service, ServiceSummary

API = "/api/v1"
BATCH_POLL = 2.0  # seconds of long poll per round while waiting for many jobs


def _user_agent() -> str:
    from astroflow import __version__

    return f"astroflow-client/{__version__} httpx/{httpx.__version__}"


class Client:
    """A connection to one astroflow server.

    ``url`` defaults to ``ASTROFLOW_URL`` (else http://127.0.0.1:8000) and ``token`` to
    ``ASTROFLOW_TOKEN`` or ``~/.config/astroflow/token``; ``token=""`` sends none.
    ``retry`` bounds the retries of every request (attempts and total seconds).
    """

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 timeout: float = 30.0, retry: Retry | None = None, verify: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = server_url(url)
        self.token = find_token(token)
        self.http = Http(self.url, self.token, timeout=timeout, retry=retry,
                         transport=transport, verify=verify, user_agent=_user_agent())

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.url}{' with token' if self.token else ''}>"

    # -- services ---------------------------------------------------------------------------

    def services(self) -> list[ServiceSummary]:
        """The services this caller may use."""
        return [ServiceSummary.from_record(s) for s in self.http.get_json(f"{API}/services")]

    def service(self, name: str) -> Service:
        """One service with its parameters (type, unit, limits, default) and outputs."""
        return Service.from_record(self.http.get_json(f"{API}/services/{name}"), client=self)

    # -- jobs -------------------------------------------------------------------------------

    def submit(self, service: str | Service, params: Mapping[str, Any] | None = None, /,
               **kwargs: Any) -> Job:
        """Queue a job; an identical earlier request answers at once (``job.cached``).

        Parameters go as keywords or as a dict (for names that clash with Python's).
        Raises :class:`ValidationError` listing every refused parameter.
        """
        return self._submit(_name(service), {**(params or {}), **kwargs})

    def _submit(self, service: str, values: dict[str, Any], retry_busy: bool = True) -> Job:
        reply = self.http.request("POST", f"{API}/services/{service}/jobs",
                                  json={"parameters": values}, retry_busy=retry_busy)
        return Job(self, reply.json())

    def run(self, service: str | Service, params: Mapping[str, Any] | None = None, /, *,
            progress: ProgressOption = True, timeout: float | None = None,
            **kwargs: Any) -> Job:
        """Submit and wait; raises :class:`JobFailed` if the job fails."""
        return self.submit(service, params, **kwargs).wait(progress=progress, timeout=timeout)

    def job(self, job_id: str) -> Job:
        """A job by id (jobs of public services are shareable by id)."""
        return Job(self, long_poll(self.http, job_id, 0))

    def jobs(self, mine: bool = True, *, service: str | None = None, state: str | None = None,
             limit: int = 50) -> list[Job]:
        """Recent jobs, newest first: the caller's (``mine``), or every one (operators only)."""
        params: dict[str, Any] = {"mine": "true" if mine else "false", "limit": limit}
        if service:
            params["service"] = service
        if state:
            params["state"] = state
        return [Job(self, r) for r in self.http.get_json(f"{API}/jobs", params=params)]

    def map(self, service: str | Service, requests: Iterable[Mapping[str, Any]], /, *,
            progress: ProgressOption = True, timeout: float | None = None,
            check: bool = False) -> list[Job]:
        """Submit one job per parameter set and wait for all of them, with one progress bar.

        Returns the jobs in the order of ``requests``; failed ones are returned too (look at
        ``job.state``) unless ``check`` raises :class:`JobFailed` for the first. When the
        server says the caller has too many queued jobs, submission pauses until some end.
        """
        name = _name(service)
        batch = [dict(values) for values in requests]
        deadline = None if timeout is None else time.monotonic() + timeout
        jobs: list[Job] = []
        display = batch_display(progress, name, jobs, len(batch))
        try:
            for index, values in enumerate(batch):
                jobs.append(self._submit_when_possible(name, values, index, jobs, deadline,
                                                       display))
                if display is not None:
                    display.update(jobs[-1])
            self._wait_all(jobs, display, deadline)
        finally:
            if display is not None:
                display.close()
        late = next((j for j in jobs if not j.ended), None)
        if late is not None:
            raise WaitTimeout(late, timeout or 0.0)
        if check:
            for job in jobs:
                job.raise_for_state()
        return jobs

    def _submit_when_possible(self, service: str, values: dict[str, Any], index: int,
                              jobs: list[Job], deadline: float | None, display: Any) -> Job:
        while True:
            try:
                return self._submit(service, values, retry_busy=False)
            except ValidationError as exc:
                exc.index = index
                exc.args = (f"request #{index} of the batch: {exc}",)
                raise
            except ServerBusy:
                live = [j for j in jobs if not j.ended]
                if not live or self._past(deadline):
                    raise
                self._wait_all(live, display, deadline, until_one=True)

    @staticmethod
    def _past(deadline: float | None) -> bool:
        left = remaining(deadline)
        return left is not None and left <= 0

    def _wait_all(self, jobs: list[Job], display: Any, deadline: float | None,
                  until_one: bool = False) -> None:
        """Read each live job, then long-poll the oldest for up to ``BATCH_POLL`` seconds:
        one round per ``BATCH_POLL`` at most, and the oldest job's end is seen at once."""
        live = [j for j in jobs if not j.ended]
        start = len(live)
        while live and not self._past(deadline):
            for job in live:
                job.refresh()
                if display is not None:
                    display.update(job)
            live = [j for j in live if not j.ended]
            if not live or (until_one and len(live) < start):
                break
            left = remaining(deadline)
            seconds = BATCH_POLL if left is None else max(0.0, min(left, BATCH_POLL))
            live[0]._update(long_poll(self.http, live[0].id, seconds))
        if display is not None and jobs:
            display.update(jobs[-1])

    # -- code -------------------------------------------------------------------------------

    def code(self, service: str | Service, params: Mapping[str, Any] | None = None, /, *,
             lang: str = "python", **kwargs: Any) -> str:
        """The snippet that runs this request (validated by the server first)."""
        body = {"parameters": {**(params or {}), **kwargs}, "lang": lang}
        reply = self.http.request("POST", f"{API}/services/{_name(service)}/code", json=body)
        return reply.json()["code"]


def _name(service: str | Service) -> str:
    return service.name if isinstance(service, Service) else str(service)
