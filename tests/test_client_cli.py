"""The client's commands as a user runs them: real subprocesses against a real server."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import jwt
import pytest
from server_process import SECRET, ServerProcess, free_port

from astroflow.client import Client
from astroflow.client.cli import (
    COMMANDS,
    EXIT_ANALYSIS,
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    add_commands,
    dispatch,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cli(server):
    """``cli(*args)``: run the client command line with only ASTROFLOW_URL set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROFLOW_")}
    env["ASTROFLOW_URL"] = server.url

    def run(*args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "astroflow.client.cli", *args],
                              capture_output=True, text=True, timeout=60, cwd=cwd,
                              env={**env, **extra})

    return run


def as_json(out: subprocess.CompletedProcess):
    return json.loads(out.stdout)


def test_services_and_describe(cli):
    out = cli("services")
    assert out.returncode == EXIT_OK, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["service", "version", "messenger", "title"]
    assert any(line.startswith("quick ") for line in lines) and "hidden" not in out.stdout
    listed = as_json(cli("services", "--json"))
    assert {"quick", "slow", "boom"} <= {s["name"] for s in listed}
    described = cli("describe", "quick")
    assert described.returncode == EXIT_OK and "0 ≤ n ≤ 1000" in described.stdout
    detail = as_json(cli("describe", "quick", "--json"))
    assert [p["name"] for p in detail["parameters"]] == ["x", "n"]
    missing = cli("describe", "nope")
    assert missing.returncode == EXIT_NOT_FOUND and "no service named 'nope'" in missing.stderr
    missing_json = cli("describe", "nope", "--json")
    assert missing_json.returncode == EXIT_NOT_FOUND
    assert as_json(missing_json)["error"]["type"] == "NotFound"


def test_submit_wait_out_job_jobs_download(cli, tmp_path):
    out = cli("submit", "quick", "-p", "x=2.5", "-p", "n=3", "--wait", "--out",
              str(tmp_path / "first"), "--json")
    assert out.returncode == EXIT_OK, out.stderr
    record = as_json(out)
    assert record["state"] == "done" and record["parameters"] == {"x": 2.5, "n": 3}
    assert sorted(Path(f).name for f in record["files"]) == ["table.ecsv", "y.json"]
    job_id = record["id"]
    # Without --wait: the id alone on stdout, for scripts.
    queued = cli("submit", "quick", "-p", "x=2.5", "-p", "n=3")
    assert queued.returncode == EXIT_OK and queued.stdout.strip() == job_id
    assert "answered from cache" in queued.stderr
    shown = cli("job", job_id)
    assert shown.returncode == EXIT_OK and f"job {job_id}" in shown.stdout
    assert "state    done" in shown.stdout and "x = 2.5" in shown.stdout
    assert as_json(cli("job", job_id, "--json"))["products"][1]["name"] == "table"
    listed = cli("jobs", "--service", "quick")
    assert listed.returncode == EXIT_OK and job_id in listed.stdout
    assert job_id in [j["id"] for j in as_json(cli("jobs", "--json", "--limit", "100"))]
    saved = cli("download", job_id, "--out", str(tmp_path / "again"), "--format", "fits",
                "--notebook")
    assert saved.returncode == EXIT_OK, saved.stderr
    names = sorted(Path(line).name for line in saved.stdout.splitlines())
    assert names == ["quick-" + job_id[:8] + ".ipynb", "table.fits", "y.json"]
    assert (tmp_path / "again" / "y.json").read_bytes() == (tmp_path / "first" / "y.json").read_bytes()
    default_dir = cli("download", job_id, "--product", "table", cwd=tmp_path)
    assert default_dir.returncode == EXIT_OK
    assert (tmp_path / f"quick-{job_id[:8]}" / "table.ecsv").is_file()
    no_product = cli("download", job_id, "--product", "nope", "--out", str(tmp_path / "x"))
    assert no_product.returncode == EXIT_NOT_FOUND


def test_typed_json_parameters_and_bad_assignments(cli):
    out = cli("submit", "quick", "-p", "x:=1.5", "-p", "n:=2", "--wait", "--json")
    assert out.returncode == EXIT_OK and as_json(out)["parameters"] == {"x": 1.5, "n": 2}
    bad = cli("submit", "quick", "-p", "novalue")
    assert bad.returncode == EXIT_INVALID and "NAME=VALUE" in bad.stderr
    bad_json = cli("submit", "quick", "-p", "x:={oops")
    assert bad_json.returncode == EXIT_INVALID and "JSON" in bad_json.stderr


def test_invalid_parameters_exit_2_with_every_field(cli):
    out = cli("submit", "quick", "-p", "x=abc", "-p", "n=5000", "--json")
    assert out.returncode == EXIT_INVALID
    error = as_json(out)["error"]
    assert error["type"] == "ValidationError" and error["exit_code"] == EXIT_INVALID
    assert {e["field"] for e in error["errors"]} == {"x", "n"}
    text = cli("submit", "quick", "-p", "x=abc")
    assert text.returncode == EXIT_INVALID and "x = 'abc'" in text.stderr


def test_failed_jobs_exit_1_and_analysis_errors_exit_3(cli, tmp_path):
    bug = cli("submit", "boom", "-p", "mode=bug", "--wait")
    assert bug.returncode == EXIT_FAILED and "ValueError: boom" in bug.stdout
    analysis = cli("submit", "boom", "-p", "mode=analysis", "--wait", "--json")
    assert analysis.returncode == EXIT_ANALYSIS
    record = as_json(analysis)
    assert record["state"] == "failed" and record["error"]["analysis"] is True
    assert cli("job", record["id"]).returncode == EXIT_ANALYSIS
    failed_download = cli("download", record["id"], "--out", str(tmp_path), "--json")
    assert failed_download.returncode == EXIT_ANALYSIS
    assert as_json(failed_download)["error"]["job"]["id"] == record["id"]


def test_timeout_cancel_and_not_done_download(cli, tmp_path):
    out = cli("submit", "slow", "-p", "seconds=60", "-p", "tag=cli-cancel", "--wait",
              "--timeout", "0.5")
    assert out.returncode == EXIT_TIMEOUT and "goes on on the server" in out.stderr
    job_id = cli("submit", "slow", "-p", "seconds=60", "-p", "tag=cli-cancel").stdout.strip()
    early = cli("download", job_id, "--out", str(tmp_path))
    assert early.returncode == EXIT_INVALID and "--wait" in early.stderr
    cancelled = cli("cancel", job_id, "--json")
    assert cancelled.returncode == EXIT_OK
    assert as_json(cancelled)["state"] in ("cancelled", "running")
    final = cli("job", job_id, "--wait", "--timeout", "20", "--json")
    assert final.returncode == EXIT_FAILED and as_json(final)["state"] == "cancelled"
    again = cli("cancel", job_id)
    assert again.returncode == EXIT_OK and "already ended (cancelled)" in again.stdout
    assert cli("job", "0" * 32).returncode == EXIT_NOT_FOUND


def test_auth_and_unreachable_exit_codes(cli):
    refused = cli("services", "--token", "not-a-jwt")
    assert refused.returncode == EXIT_AUTH and "ASTROFLOW_TOKEN" in refused.stderr
    assert cli("describe", "hidden").returncode == EXIT_NOT_FOUND
    team = jwt.encode({"sub": "alice", "roles": ["secret-team"], "exp": int(time.time()) + 600},
                      SECRET, algorithm="HS256")
    allowed = cli("submit", "hidden", "-p", "x=1", "--wait", "--json", ASTROFLOW_TOKEN=team)
    assert allowed.returncode == EXIT_OK and as_json(allowed)["state"] == "done"
    start = time.monotonic()
    down = cli("services", "--url", f"http://127.0.0.1:{free_port()}", "--json",
               ASTROFLOW_RETRIES="2")
    assert down.returncode == EXIT_UNREACHABLE and time.monotonic() - start < 10
    assert as_json(down)["error"]["type"] == "ServerUnavailable"


def test_progress_bar_on_a_terminal_only(server, tmp_path):
    """A pseudo-terminal gets the bar with stage and fraction; a pipe gets none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROFLOW_")}
    env["ASTROFLOW_URL"] = server.url
    args = [sys.executable, "-m", "astroflow.client.cli", "submit", "slow", "-p",
            "seconds=1.0", "-p", "tag=tty", "--wait"]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(30) == EXIT_OK
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "slow " in screen and "100%" in screen and "sleeping step" in screen
    piped = subprocess.run(args[:-2] + ["tag=pipe", "--wait"], capture_output=True, text=True,
                           env=env, timeout=30)
    assert piped.returncode == EXIT_OK and "%|" not in piped.stderr + piped.stdout


def test_add_commands_and_dispatch_for_the_main_command(server, capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="astroflow")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("inspect")
    add_commands(sub)
    assert dispatch(parser.parse_args(["inspect"])) is None
    for name in COMMANDS:
        assert name in sub.choices
    args = parser.parse_args(["services", "--url", server.url, "--token", "", "--json"])
    assert dispatch(args) == EXIT_OK
    assert "quick" in {s["name"] for s in json.loads(capsys.readouterr().out)}
    with Client(server.url, token="") as client:
        assert client.service("quick").name == "quick"
