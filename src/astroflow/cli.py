"""The ``astroflow`` command: workflows, the server, the registry and the client.

Exit codes: 0 success, 1 the run failed, 2 invalid input (bad notebook, annotation or
parameter values), 3 the analysis itself said no (``AnalysisError``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from astroflow.errors import AstroflowError

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_ANALYSIS = 0, 1, 2, 3
EXIT_CODES_HELP = """exit codes: 0 ok · 1 job failed or cancelled · 2 invalid input · 3 analysis error ·
4 not found · 5 authentication refused · 6 server unreachable · 7 timeout"""


DATA_FETCH_EPILOG = """\
environment:
  ASTROFLOW_DATA_DIR   the data folder when --data-dir is not given (the server and the
                       workflows read the data there)
  ICECUBE_PS_SOURCE    the source of icecube when --source is not given
  FERMI_LAT_CATALOG    the source of fermi-lat when --source is not given
  HESS_DL3_SOURCE      the source of hess (the real H.E.S.S. DL3 DR1) when --source is not given
  CTA_IRF_SOURCE       the source of cta (the CTAO prod5 IRFs) when --source is not given

examples:
  astroflow data fetch icecube --source ~/Downloads/20210126_PS-IC40-IC86_VII.zip
  astroflow data fetch icecube --source /data/skyllh --release 10year
  astroflow data fetch icecube --source https://example.org/icecube.zip
  astroflow data fetch fermi-lat --data-dir data
  astroflow data fetch hess --source ~/gammapy-data/hess-dl3-dr1
  astroflow data fetch hess --release synthetic

A source that does not hold the data asked for is an error (exit 2) saying what it holds;
no other data are fetched in its place."""


class DataFetchParser(argparse.ArgumentParser):
    """``astroflow data fetch --help`` ends with what each bundled workflow's data step says
    (read only when help is asked for)."""

    def format_help(self) -> str:
        text = super().format_help()
        if not self.prog.endswith(" fetch"):
            return text
        from astroflow.registry.data import data_help
        from astroflow.server.config import BUNDLED_WORKFLOWS

        sections = [f"{name}:\n" + "\n".join("  " + line if line else ""
                                              for line in body.splitlines())
                    for name, body in data_help([BUNDLED_WORKFLOWS])]
        if sections:
            text += "\nthe bundled workflows' data steps:\n\n" + "\n\n".join(sections) + "\n"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="astroflow", description=__doc__.splitlines()[0],
                                     epilog=EXIT_CODES_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    inspect = sub.add_parser("inspect", help="show a notebook's parameters and outputs")
    inspect.add_argument("path", type=Path)
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--schema", action="store_true", help="print the JSON Schema")

    run = sub.add_parser("run", help="validate, run and write the products of a notebook")
    run.add_argument("path", type=Path)
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a parameter value (repeatable); strings are coerced to its type")
    run.add_argument("--out", type=Path, required=True, help="directory for products and notebook")
    run.add_argument("--time-limit", type=float, default=None, help="seconds before the run is killed")
    run.add_argument("--no-html", action="store_true", help="skip the HTML copy of the notebook")
    run.add_argument("--json", action="store_true", help="machine-readable summary")

    serve = sub.add_parser("serve", help="start the HTTP API (and portal) server")
    serve.add_argument("--host", default=None, help="default 127.0.0.1 (ASTROFLOW_HOST)")
    serve.add_argument("--port", type=int, default=None, help="default 8000 (ASTROFLOW_PORT)")
    serve.add_argument("--services", type=Path, action="append", default=[], metavar="DIR",
                       help="folder of workflow repositories (repeatable; default: bundled)")
    serve.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in data dir)")
    serve.add_argument("--store", default=None, help="artifact folder or fsspec URL")
    serve.add_argument("--workers", type=int, default=None, help="parallel jobs (default: CPUs)")
    serve.add_argument("--data-dir", type=Path, default=None, help="where SQLite and artifacts go")
    serve.add_argument("--time-limit", type=float, default=None, help="default job time limit, s")
    serve.add_argument("--queue-limit", type=int, default=None, help="queued jobs per caller")
    serve.add_argument("--drain-grace", type=float, default=None,
                       help="at SIGTERM, seconds running jobs have to end before they are "
                            "queued again (default 20; ASTROFLOW_DRAIN_GRACE)")
    serve.add_argument("--param-limit", type=int, default=None,
                       help="bytes per parameter value (default 65536; ASTROFLOW_PARAM_LIMIT)")
    serve.add_argument("--body-limit", type=int, default=None,
                       help="bytes of a non-upload request body (default 1 MiB)")
    serve.add_argument("--rate-limit", type=int, default=None,
                       help="job submissions per minute per caller (default 600, 0: off)")
    serve.add_argument("--sandbox", choices=("on", "strict", "off"), default=None,
                       help="run sandbox: on (default; warns for layers the kernel lacks), "
                            "strict (refuse to start without them), off (trusted workflows "
                            "only); ASTROFLOW_SANDBOX")
    serve.add_argument("--config", type=Path, default=None,
                       help="astroflow.toml with registry [[sources]] (default: ./astroflow.toml)")
    serve.add_argument("--registry-interval", type=float, default=None,
                       help="seconds between looks at the registry sources (default: hooks only)")
    serve.add_argument("--executor", default=None, metavar="local|dask://HOST:PORT",
                       help="where jobs run: local processes (default) or a Dask cluster "
                            "(ASTROFLOW_EXECUTOR)")

    bot = sub.add_parser("bot", help="deploy new versions of live-workflow repositories")
    when = bot.add_mutually_exclusive_group(required=True)
    when.add_argument("--once", action="store_true", help="look once, deploy, exit")
    when.add_argument("--interval", type=float, help="look every this many seconds")
    for command in (bot, sub.add_parser("registry", help="what each followed repository serves")):
        command.add_argument("--config", type=Path, default=None, help="astroflow.toml")
        command.add_argument("--db", default=None, help="SQLAlchemy URL of the shared store")
        command.add_argument("--data-dir", type=Path, default=None)
        command.add_argument("--json", action="store_true")

    token = sub.add_parser("token", help="mint access tokens with the server's key")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a new signed token")
    create.add_argument("--sub", required=True, help="the user the token is for")
    create.add_argument("--roles", default="", help="comma-separated roles")
    create.add_argument("--ttl", default="30d", help="lifetime: 30d, 12h, 15m, 3600s")
    create.add_argument("--data-dir", type=Path, default=None,
                        help="sign with the key `astroflow serve` made there (when no "
                             "ASTROFLOW_JWT_* key is set)")
    from astroflow.accounts.cli import add_parser as add_user_parser

    add_user_parser(sub)
    from astroflow.lifecycle.cli import add_parser as add_gc_parser

    add_gc_parser(sub)

    data = sub.add_parser("data", help="prepare the data a bundled workflow needs")
    data_sub = data.add_subparsers(dest="data_command", required=True,
                                   parser_class=DataFetchParser)
    fetch = data_sub.add_parser(
        "fetch", help="fetch (or convert) a workflow's data",
        description="Fetch (or convert) the data a workflow needs into DIR/NAME with the\n"
                    "workflow's own data step (data_fetch in its astroflow.yaml).",
        epilog=DATA_FETCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fetch.add_argument("name", help="workflow repository, e.g. icecube or fermi-lat")
    fetch.add_argument("--source", default=None, metavar="PATH|URL",
                       help="where the workflow takes its data from: a local file or folder, "
                            "or an http/https/file URL (downloaded into the data folder "
                            "first); only this source is used. Default: the workflow's own "
                            "environment variable (below), else its official archives")
    fetch.add_argument("--release", default=None, metavar="NAME",
                       help="which release of the data (icecube: 10year, 3year or any, "
                            "default any; hess: dr1, synthetic or auto, default auto; cta: North, South "
                            "or all, default the sites the source holds)")
    fetch.add_argument("--services", type=Path, action="append", default=[], metavar="DIR",
                       help="folder of workflow repositories (repeatable; default: bundled)")
    fetch.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help="astroflow's data folder (default: $ASTROFLOW_DATA_DIR, else "
                            "$XDG_DATA_HOME/astroflow or ~/.local/share/astroflow); the "
                            "data go to DIR/NAME")

    from astroflow.client.cli import add_commands
    from astroflow.registry import galaxy

    add_commands(sub)  # services, describe, submit, jobs, job, cancel, download
    galaxy.add_command(sub)
    from astroflow.execution.dask.command import add_command as add_worker_command

    add_worker_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from astroflow.client.pipes import quiet_on_broken_pipe

    return quiet_on_broken_pipe(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from astroflow.client.cli import dispatch

    code = dispatch(args)
    if code is not None:
        return code
    try:
        commands = {"inspect": cmd_inspect, "run": cmd_run, "serve": cmd_serve, "token": cmd_token,
                    "bot": cmd_bot, "registry": cmd_registry, "galaxy": cmd_galaxy,
                    "data": cmd_data, "user": cmd_user, "worker": cmd_worker,
                    "gc": _cmd_gc}
        return commands[args.command](args)
    except AstroflowError as exc:
        return _invalid(exc, getattr(args, "json", False))


def _invalid(exc: Exception, as_json: bool) -> int:
    errors = [e.as_dict() for e in getattr(exc, "errors", [])]
    if as_json:
        print(json.dumps({"error": str(exc), "errors": errors}, indent=2))
    else:
        print(f"error: {exc}" if not errors else "error: invalid parameters", file=sys.stderr)
        for e in errors:
            print(f"  {e['field']} = {e['value']!r}: {e['reason']}", file=sys.stderr)
    return EXIT_INVALID


def cmd_inspect(args: argparse.Namespace) -> int:
    from astroflow.workflow import Workflow

    wf = Workflow.from_path(args.path)
    for warning in unknown_class_warnings(wf.metadata.get("unknown_classes") or []):
        print(warning, file=sys.stderr)
    if args.schema:
        print(json.dumps(wf.json_schema(), indent=2))
    elif args.json:
        print(json.dumps(wf.describe(), indent=2, default=str))
    else:
        print(render_inspection(wf.describe()))
    return EXIT_OK


def unknown_class_warnings(uris: list[str]) -> list[str]:
    """One line per class the ontology does not define: served as nb2workflow serves it (the
    type from the default), but most often a typo, so say what the ontology has close by."""
    from astroflow.errors import UnknownClass
    from astroflow.ontology import Ontology

    ontology = Ontology.default()
    lines = []
    for uri in uris:
        try:
            ontology.resolve(uri)
        except UnknownClass as exc:
            lines.append(f"warning: {exc} (kept as written, its type from the default, "
                         "as nb2workflow does)")
    return lines


def render_inspection(info: dict[str, Any]) -> str:
    lines = [f"{info['title']}  ({info['name']}, version {info['version']})"]
    if info.get("description"):
        lines.append(info["description"])
    lines.append("")
    rows = [["parameter", "type", "default", "unit", "limits / allowed", "ontology"]]
    for p in info["parameters"]:
        if p["enum"] is not None:
            limits = ", ".join(map(str, p["enum"]))
        elif p["minimum"] is not None or p["maximum"] is not None:
            limits = f"[{_num(p['minimum'])}, {_num(p['maximum'])}]"
        else:
            limits = ""
        kind = p["type"] + ("?" if p["optional"] else "") + (f" ({p['format']})" if p["format"] else "")
        rows.append([p["name"], kind, repr(p["default"]), p["unit"] or "", limits,
                     _short(p["ontology"])])
    lines += table(rows)
    lines.append("")
    rows = [["output", "type", "ontology"]]
    rows += [[o["name"], o["type"], _short(o["ontology"])] for o in info["outputs"]]
    lines += table(rows)
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _short(uri: str | None) -> str:
    if not uri:
        return ""
    return "oda:" + uri.split("#", 1)[1] if uri.startswith("http://odahub.io/ontology#") else uri


def table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned text columns, the first row as the header."""
    cells = [[str(c) if len(str(c)) <= 40 else str(c)[:39] + "…" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"astroflow: -p expects NAME=VALUE, got {item!r}")
        values[name.strip()] = value
    return values


def cmd_run(args: argparse.Namespace) -> int:
    from astroflow.execution import notebook_html
    from astroflow.workflow import Workflow

    wf = Workflow.from_path(args.path)
    values = wf.validate(parse_assignments(args.param))
    args.out.mkdir(parents=True, exist_ok=True)

    def show(progress: Any) -> None:
        if not args.json:
            fraction = f" {progress.fraction:.0%}" if progress.fraction is not None else ""
            print(f"  … {progress.stage or ''}{fraction} {progress.message or ''}".rstrip(),
                  file=sys.stderr)

    result = wf.run(values, job_dir=args.out, time_limit=args.time_limit, on_progress=show)
    from astroflow.products.stored import write_every_format

    for product in result.products:  # here every listed format is a file, as it always was
        write_every_format(product, args.out / "products")
    html = None
    if not args.no_html and result.notebook_path.exists():
        html = notebook_html(result.notebook_path)
    summary = {
        "workflow": wf.name, "version": wf.version, "status": result.status,
        "duration": round(result.duration, 4), "parameters": values,
        "notebook": str(result.notebook_path), "html": str(html) if html else None,
        "products": [p.to_dict() for p in result.products],
        "error": result.error.to_dict() if result.error else None,
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render_summary(summary, args.out))
    if result.status == "done":
        return EXIT_OK
    return EXIT_ANALYSIS if result.error and result.error.kind == "analysis" else EXIT_FAILED


def cmd_serve(args: argparse.Namespace) -> int:
    from astroflow.server.auth import AuthConfig
    from astroflow.server.serve import serve

    # No signing key configured: make one in the data directory (once; kept and reused).
    try:
        AuthConfig.from_env().with_stored_key(_data_dir(args), create=True)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return serve(host=args.host, port=args.port, services=args.services, db=args.db,
                 store=args.store, workers=args.workers, data_dir=args.data_dir,
                 time_limit=args.time_limit, queue_limit=args.queue_limit,
                 drain_grace=args.drain_grace,
                 param_limit=args.param_limit, body_limit=args.body_limit,
                 rate_limit=args.rate_limit, sandbox=args.sandbox,
                 config_file=args.config, registry_interval=args.registry_interval,
                 executor=args.executor)


def cmd_worker(args: argparse.Namespace) -> int:
    from astroflow.execution.dask.command import cmd_worker as start_worker

    return start_worker(args)


def cmd_bot(args: argparse.Namespace) -> int:
    from astroflow.registry.bot import config_from_args, run_bot

    return run_bot(config_from_args(args), once=args.once, interval=args.interval or 60.0,
                   as_json=args.json)


def cmd_data(args: argparse.Namespace) -> int:
    from astroflow.registry.data import fetch_data
    from astroflow.server.config import BUNDLED_WORKFLOWS, default_data_dir

    data_dir = (args.data_dir or default_data_dir()).resolve()
    path = fetch_data(args.name, args.services or [BUNDLED_WORKFLOWS], data_dir,
                      {"source": args.source, "release": args.release})
    print(f"{args.name}: data ready at {path}")
    return EXIT_OK


def cmd_galaxy(args: argparse.Namespace) -> int:
    from astroflow.registry import galaxy

    return galaxy.run_command(args)


def cmd_registry(args: argparse.Namespace) -> int:
    from astroflow.registry.bot import config_from_args, print_status

    return print_status(config_from_args(args), args.json)


def cmd_token(args: argparse.Namespace) -> int:
    from astroflow.server.auth import AuthConfig, mint_token, parse_ttl

    try:
        config = AuthConfig.from_env().with_stored_key(_data_dir(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError as exc:
        print(f"error: --ttl: {exc}", file=sys.stderr)
        return EXIT_INVALID
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if not config.can_sign:
        print(f"error: no signing key: set ASTROFLOW_JWT_SECRET (HS256) or "
              f"ASTROFLOW_JWT_PRIVATE_KEY (RS256) as the server has it, or start `astroflow "
              f"serve` once so that it makes its key in {_data_dir(args)}", file=sys.stderr)
        return EXIT_INVALID
    print(mint_token(config, args.sub, roles, ttl))
    return EXIT_OK


def _data_dir(args: argparse.Namespace) -> Path:
    """The data directory as the server resolves it: flag, ASTROFLOW_DATA_DIR, default."""
    import os

    from astroflow.datadir import default_data_dir

    env = os.environ.get("ASTROFLOW_DATA_DIR")
    return Path(args.data_dir or (Path(env) if env else default_data_dir()))


def _cmd_gc(args: argparse.Namespace) -> int:
    from astroflow.lifecycle.cli import cmd_gc

    return cmd_gc(args)


def cmd_user(args: argparse.Namespace) -> int:
    from astroflow.accounts.cli import cmd_user as run

    return run(args)


def render_summary(summary: dict[str, Any], out: Path) -> str:
    lines = [f"{summary['workflow']}: {summary['status']} in {summary['duration']:.3f} s"]
    error = summary["error"]
    if error:
        if error["kind"] == "analysis":
            lines.append(f"analysis: {error['evalue']}")
        else:
            lines.append(f"{error['kind']}: {error['ename']}: {error['evalue']}"
                         + (f" (cell {error['cell']})" if error["cell"] is not None else ""))
            if error["traceback"]:
                lines.append(error["traceback"])
    if summary["products"]:
        rows = [["product", "type", "files"]]
        rows += [[p["name"], p["type"], ", ".join(p["files"].values())] for p in summary["products"]]
        lines += [""] + table(rows)
    lines.append(f"\nexecuted notebook: {summary['notebook']}")
    if summary["html"]:
        lines.append(f"html: {summary['html']}")
    lines.append(f"products in: {out / 'products'}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
