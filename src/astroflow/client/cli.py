"""The client's commands of ``astroflow``: services, describe, submit, jobs, job, cancel, download.

Each takes ``--url`` (default ``ASTROFLOW_URL``), ``--token`` (default ``ASTROFLOW_TOKEN``
or ``~/.config/astroflow/token``) and ``--json`` (machine-readable output on stdout, errors
included). Exit codes:

  0  success (for ``job``: the job is done, queued or running)
  1  the job failed (a bug, a time limit, an interrupted run) or was cancelled
  2  invalid input: refused parameters or a malformed command line
  3  the job ended with an analysis error (the notebook's ``AnalysisError``)
  4  no such service, job or product
  5  authentication or permission refused
  6  the server is unreachable or kept failing (after retries)
  7  ``--timeout`` ran out while waiting (the job goes on)
  130  interrupted with Ctrl-C (a submitted job goes on on the server)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_ANALYSIS = 3
EXIT_NOT_FOUND = 4
EXIT_AUTH = 5
EXIT_UNREACHABLE = 6
EXIT_TIMEOUT = 7
EXIT_INTERRUPTED = 130

EXIT_CODES = "exit codes:\n" + __doc__.split("Exit codes:\n", 1)[1].rstrip()
COMMANDS = ("services", "describe", "submit", "jobs", "job", "cancel", "download")


class UsageError(Exception):
    """A command line that cannot mean anything (exit 2)."""


# -- parser ------------------------------------------------------------------------------------

def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server")
    group.add_argument("--url", default=None,
                       help="server URL (default: $ASTROFLOW_URL or http://127.0.0.1:8000)")
    group.add_argument("--token", default=None,
                       help="access token (default: $ASTROFLOW_TOKEN or "
                            "~/.config/astroflow/token)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    return common


def _wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"wait until the job ends, {what}")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up waiting after this long (exit 7; the job goes on)")


def add_commands(subparsers: Any) -> None:
    """Register the client's sub-commands on the ``astroflow`` command's subparsers."""
    common = _common()

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, help=help, description=help, parents=[common],
                                     epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)

    add("services", "list the services of a server")

    describe = add("describe", "show a service's parameters and outputs")
    describe.add_argument("service")

    submit = add("submit", "submit a job to a service")
    submit.add_argument("service")
    submit.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter (repeatable); the server converts text to the "
                             "parameter's type; NAME:=JSON sends a JSON value (null, lists)")
    _wait_options(submit, "showing its progress")
    submit.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="wait, then save the products into DIR")

    jobs = add("jobs", "list recent jobs (yours by default)")
    jobs.add_argument("--all", action="store_true", help="every job, not only yours (needs the operator role)")
    jobs.add_argument("--service", default=None, help="only jobs of this service")
    jobs.add_argument("--state", default=None,
                      choices=("queued", "running", "done", "failed", "cancelled"))
    jobs.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    job = add("job", "show a job: state, parameters, products, error")
    job.add_argument("id")
    _wait_options(job, "showing its progress")

    cancel = add("cancel", "cancel a queued or running job")
    cancel.add_argument("id")

    download = add("download", "save a done job's products")
    download.add_argument("id")
    download.add_argument("--out", type=Path, default=None, metavar="DIR",
                          help="folder for the files (default: SERVICE-ID8)")
    download.add_argument("--format", default=None,
                          help="this format where a product has it, or 'all'")
    download.add_argument("--product", action="append", default=[], metavar="NAME",
                          help="only this product (repeatable)")
    download.add_argument("--notebook", action="store_true",
                          help="also save the executed notebook")
    _wait_options(download, "then download")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astroflow", description="Use an astroflow server from the shell.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from astroflow.client.pipes import quiet_on_broken_pipe

    def run() -> int:
        code = dispatch(build_parser().parse_args(argv))
        return EXIT_INVALID if code is None else code

    return quiet_on_broken_pipe(run)


# -- dispatch ----------------------------------------------------------------------------------

def dispatch(args: argparse.Namespace) -> int | None:
    """Run a client command; ``None`` when ``args.command`` is not one of them."""
    command = getattr(args, "command", None)
    if command not in COMMANDS:
        return None
    from astroflow.client.client import Client

    handlers: dict[str, Callable[[Client, argparse.Namespace], int]] = {
        "services": cmd_services, "describe": cmd_describe, "submit": cmd_submit,
        "jobs": cmd_jobs, "job": cmd_job, "cancel": cmd_cancel, "download": cmd_download,
    }
    try:
        with Client(args.url, args.token) as client:
            return handlers[command](client, args)
    except KeyboardInterrupt:
        print("\ninterrupted; a submitted job goes on on the server "
              "(astroflow cancel ID stops it)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message and a code
        return report_error(exc, args.json)


def exit_code_for(exc: BaseException) -> int:
    from astroflow.client import errors

    if isinstance(exc, errors.JobFailed):
        return EXIT_ANALYSIS if exc.analysis else EXIT_FAILED
    if isinstance(exc, errors.ValidationError | UsageError):
        return EXIT_INVALID
    if isinstance(exc, errors.NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, errors.AuthError):
        return EXIT_AUTH
    if isinstance(exc, errors.ServerUnavailable):
        return EXIT_UNREACHABLE
    if isinstance(exc, errors.WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, errors.ApiError) and exc.status is not None and exc.status < 500:
        return EXIT_INVALID
    return EXIT_FAILED


def report_error(exc: Exception, as_json: bool) -> int:
    from astroflow.client.errors import ClientError

    if isinstance(exc, BrokenPipeError):
        raise exc  # the reader went away: the command ends quietly (pipes.py)
    if not isinstance(exc, ClientError | UsageError | OSError):
        raise exc  # a bug in the client: the traceback is what helps
    code = exit_code_for(exc)
    if as_json:
        body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc),
                                "exit_code": code}
        if hasattr(exc, "errors"):
            body["errors"] = [{"field": e.field, "value": e.value, "reason": e.reason}
                              for e in exc.errors]
        job = getattr(exc, "job", None)
        if job is not None:
            body["job"] = job.record
        _print_json({"error": body})
    else:
        print(f"error: {exc}", file=sys.stderr)
    return code


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


# -- commands ----------------------------------------------------------------------------------

def cmd_services(client: Any, args: argparse.Namespace) -> int:
    records = client.http.get_json("/api/v1/services")
    if args.json:
        _print_json(records)
        return EXIT_OK
    from astroflow.client.render import table

    rows = [["service", "version", "messenger", "title"]]
    rows += [[s["name"], s.get("version", ""), s.get("messenger") or "", s.get("title", "")]
             for s in records]
    print("\n".join(table(rows)) if records else "no services")
    return EXIT_OK


def cmd_describe(client: Any, args: argparse.Namespace) -> int:
    service = client.service(args.service)
    if args.json:
        _print_json(service.record)
    else:
        print(service.describe().replace("job = client.run", "in Python: job = client.run"))
    return EXIT_OK


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` (text, converted by the server) and ``NAME:=JSON`` (typed value)."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip(":").strip():
            raise UsageError(f"-p expects NAME=VALUE or NAME:=JSON, got {item!r}")
        if name.endswith(":"):
            name = name[:-1]
            try:
                values[name.strip()] = json.loads(value)
            except ValueError as exc:
                raise UsageError(f"-p {name}:= needs a JSON value: {exc}") from None
        else:
            values[name.strip()] = value
    return values


def cmd_submit(client: Any, args: argparse.Namespace) -> int:
    job = client.submit(args.service, parse_params(args.param))
    if not (args.wait or args.out):
        if args.json:
            _print_json(job.record)
        else:
            print(job.id)
            note = "answered from cache" if job.cached else job.state
            print(f"{job.service}: job {job.id} {note}; follow it with: astroflow job {job.id} "
                  "--wait", file=sys.stderr)
        return EXIT_OK
    return _finish(job, args, out=args.out)


def _finish(job: Any, args: argparse.Namespace, out: Path | None, products: Sequence[str] = (),
            fmt: str | None = None, notebook: bool = False, show_job: bool = True) -> int:
    """Wait (when asked), save files (when asked), report; the exit code follows the state."""
    if not job.ended and (args.wait or out is not None):
        job.wait(progress=not args.json, timeout=args.timeout, check=False)
    files: list[Path] = []
    if out is not None and job.ok:
        files = _save(job, out, products, fmt, notebook)
    if args.json:
        _print_json({**job.record, "files": [str(f) for f in files]} if out else job.record)
    elif show_job:
        print(render_job(job))
        if files:
            print("\nsaved:")
            print("\n".join(f"  {f}" for f in files))
    else:
        print("\n".join(str(f) for f in files))
    if out is not None and not job.ended:
        print(f"error: job {job.id} is still {job.state}; add --wait", file=sys.stderr)
        return EXIT_FAILED
    return state_code(job)


def _save(job: Any, out: Path, names: Sequence[str], fmt: str | None,
          notebook: bool) -> list[Path]:
    products = job.products
    if names:
        files = []
        for name in names:
            product = products[name] if name in products else _missing(job, name, products)
            wanted = product.formats if fmt == "all" else [fmt if fmt in product.formats else None]
            files += [product.save(out, f) for f in wanted]
    else:
        files = products.save_all(out, fmt)
    if notebook:
        files.append(job.save_notebook(out))
    return files


def _missing(job: Any, name: str, products: Any) -> Any:
    from astroflow.client.errors import NotFound

    raise NotFound(f"job {job.id} has no product {name!r} (it has: {', '.join(products)})",
                   status=404, code="not_found")


def state_code(job: Any) -> int:
    if job.state == "failed":
        error = job.error
        return EXIT_ANALYSIS if error is not None and error.analysis else EXIT_FAILED
    if job.state == "cancelled":
        return EXIT_FAILED
    return EXIT_OK


def render_job(job: Any) -> str:
    from astroflow.client.render import seconds, table

    state = job.state
    if job.elapsed is not None and job.ended:
        state += f" in {seconds(job.elapsed)}"
    if job.cached:
        state += " (answered from cache)"
    progress = job.progress
    if not job.ended and progress.fraction is not None:
        state += f", {progress.fraction:.0%}"
    if not job.ended and (progress.stage or progress.message):
        state += f" · {' '.join(str(x) for x in (progress.stage, progress.message) if x)}"
    lines = [f"job {job.id}", f"  service  {job.service} (version {job.version})",
             f"  state    {state}", f"  created  {job.record.get('created') or ''}"]
    if job.parameters:
        lines.append("parameters")
        lines += [f"  {name} = {value!r}" for name, value in job.parameters.items()]
    if job.ended and job.state != "done" and progress.stage:
        at = f", {progress.fraction:.0%}" if progress.fraction is not None else ""
        lines.append(f"  stopped  at {progress.stage}{at}")
    records = job.record.get("products") or []
    if records:
        from astroflow.client.render import scalar_value

        products = job.products if job.state == "done" else {}
        rows = [["product", "type", "value", "unit", "formats"]]
        rows += [[p["name"], p.get("type", ""),
                  scalar_value(products[p["name"]]) if p["name"] in products else "",
                  p.get("unit") or "", ", ".join(p.get("formats") or [])] for p in records]
        lines += ["products"] + ["  " + line for line in table(rows)]
    error = job.error
    if error is not None:
        kind = "analysis error" if error.analysis else (error.type or "error")
        lines.append(f"{kind}: {error.message}")
        if error.traceback and not error.analysis:
            lines.append(error.traceback.rstrip())
    return "\n".join(lines)


def cmd_jobs(client: Any, args: argparse.Namespace) -> int:
    jobs = client.jobs(mine=not args.all, service=args.service, state=args.state,
                       limit=args.limit)
    if args.json:
        _print_json([j.record for j in jobs])
        return EXIT_OK
    if not jobs:
        print("no jobs")
        return EXIT_OK
    from astroflow.client.render import seconds, table

    rows = [["job", "service", "state", "created", "elapsed"]]
    rows += [[j.id, j.service, j.state, (j.record.get("created") or "")[:19].replace("T", " "),
              seconds(j.elapsed)] for j in jobs]
    print("\n".join(table(rows)))
    return EXIT_OK


def cmd_job(client: Any, args: argparse.Namespace) -> int:
    return _finish(client.job(args.id), args, out=None)


def cmd_cancel(client: Any, args: argparse.Namespace) -> int:
    job = client.job(args.id)
    was = job.state
    job.cancel()
    if args.json:
        _print_json(job.record)
    elif was in ("done", "failed", "cancelled"):
        print(f"job {job.id} had already ended ({was}); nothing to cancel")
    else:
        print(f"job {job.id} {job.state}")
    return EXIT_OK


def cmd_download(client: Any, args: argparse.Namespace) -> int:
    job = client.job(args.id)
    out = args.out or Path(f"{job.service}-{job.id[:8]}")
    if not job.ended and not args.wait:
        raise UsageError(f"job {job.id} is {job.state}; its products exist once it is done "
                         "(add --wait)")
    if job.ended and job.state != "done":
        job.raise_for_state()
    return _finish(job, args, out=out, products=args.product, fmt=args.format,
                   notebook=args.notebook, show_job=False)


if __name__ == "__main__":
    raise SystemExit(main())
