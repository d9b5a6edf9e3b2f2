"""nb2workflow's backend API on a real astroflow server: the exchanges
dispatcher-plugin-nb2workflow makes (its ``NB2WDataDispatcher``: ``backend_options``,
``run_query`` sync and async with a callback, ``get_progress_run``'s trace, the connection
test) with the fields it reads, and outputs decoded by ``oda_api`` as the plugin decodes them.

The shapes are nb2workflow's (oda-hub/nb2workflow, nb2workflow/service.py and
nbadapter.py): ``options`` → ``{target: {"output", "parameters"}}``; ``get`` → ``{output,
exceptions, jobdir}`` (500 when the notebook raised, 400 ``{issues}`` for bad values);
``_async_request`` → 201 ``{workflow_status: submitted|started}`` then 200 ``{workflow_status:
done, data: {output, exceptions: [{ename, evalue, edump}]}}``.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import rdflib
from server_process import SECRET, ServerProcess

oda_api = pytest.importorskip("oda_api")
from oda_api.data_products import ODAAstropyTable, PictureProduct  # noqa: E402

ODA = "http://odahub.io/ontology#"

PRODUCTS = '''# %% tags=["parameters"]
n = 3  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 10
pause = 0.0  # oda:Float
note = "x"

# %%
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table

from astroflow import progress

progress(stage="sleeping", fraction=0.1, message="waiting a little")
time.sleep(pause)
tab = Table({"x": np.arange(n), "y": 2.0 * np.arange(n)})
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot(tab["x"], tab["y"])

# %% tags=["outputs"]
table = tab  # oda:ODAAstropyTable ; oda:label "A table"
text = f"n={n} note={note}"  # oda:ODATextProduct
value = n * 1.5  # oda:Float
picture = fig  # oda:ODAPictureProduct
'''

FAILING = '''# %% tags=["parameters"]
n = 1  # oda:Integer

# %%
raise ValueError(f"this notebook fails on purpose (n={n})")

# %% tags=["outputs"]
result = n  # oda:Integer
'''

READ = '''# %% tags=["parameters"]
path = ""  # oda:POSIXPath

# %% tags=["outputs"]
content = open(path).read()  # oda:ODATextProduct
'''

HELLO = '''# %% tags=["parameters"]
who = "world"

# %% tags=["outputs"]
greeting = f"hello {who}"  # oda:ODATextProduct
nothing = None  # oda:Float
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("repos")
    for repo, notebooks in {"example": {"products.py": PRODUCTS, "failing.py": FAILING,
                                        "read.py": READ},
                            "other": {"hello.py": HELLO}}.items():
        (root / repo).mkdir()
        for name, text in notebooks.items():
            (root / repo / name).write_text(text)
    process = ServerProcess(tmp_path_factory.mktemp("nb2w-api"), services=[root]).start()
    yield process
    process.stop()


@pytest.fixture
def callbacks():
    """A local HTTP server that records the callbacks nb2workflow makes (GET ?action=...)."""
    received: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            received.append(parse_qs(urlsplit(self.path).query))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # the test output stays readable
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/call_back?job_id=1&session_id=2", received
    httpd.shutdown()


def test_options_connection_and_health(server):
    url = server.url
    assert httpx.get(url + "/nb2workflow/example").status_code == 200  # the connection test
    options = httpx.get(url + "/api/v1.0/options").json()
    assert {"products", "failing", "hello"} <= set(options)
    scoped = httpx.get(url + "/nb2workflow/example/api/v1.0/options").json()
    assert set(scoped) == {"products", "failing", "read"}  # one repository, as one nb2workflow serves

    params = scoped["products"]["parameters"]
    assert params["note"]["owl_type"] == ODA + "String"  # unannotated: the class of its type
    assert params["note"]["python_type"] == {"type_object": "<class 'str'>"}
    assert params["pause"]["default_value"] == 0.0 and params["pause"]["is_optional"] is False
    n = params["n"]
    assert n["python_type"] == {"type_object": "<class 'int'>"} and n["default_value"] == 3
    # the limits travel as nb2workflow sends them: a class of the parameter's own, defined in
    # extra_ttl as a subclass of oda:Integer with the limits (what the plugin parses)
    graph = rdflib.Graph().parse(data=n["extra_ttl"], format="turtle")
    cls = rdflib.URIRef(n["owl_type"])
    assert (cls, rdflib.RDFS.subClassOf, rdflib.URIRef(ODA + "Integer")) in graph
    assert {str(p): o.toPython() for p, o in graph.predicate_objects(cls)
            if str(p).startswith(ODA)} == {ODA + "lower_limit": 1, ODA + "upper_limit": 10}
    outputs = scoped["products"]["output"]
    assert set(outputs) == {"table", "text", "value", "picture"}
    assert outputs["text"]["owl_type"] == ODA + "ODATextProduct"
    assert outputs["picture"]["owl_type"] == ODA + "ODAPictureProduct"
    labelled = rdflib.Graph().parse(data=outputs["table"]["extra_ttl"], format="turtle")
    assert (rdflib.URIRef(outputs["table"]["owl_type"]), rdflib.RDFS.subClassOf,
            rdflib.URIRef(ODA + "ODAAstropyTable")) in labelled

    health = httpx.get(url + "/health")
    assert health.status_code == 200 and health.json()["summary"] == "all is ok!"


def test_synchronous_run_decoded_as_the_plugin_does(server):
    reply = httpx.get(server.url + "/api/v1.0/get/products",
                      params={"n": 4, "note": "\x00"}, timeout=120)
    assert reply.status_code == 400  # note is not optional: nb2workflow answers with issues
    assert "note" in reply.json()["issues"][0]
    reply = httpx.get(server.url + "/nb2workflow/example/api/v1.0/get/products",
                      params={"n": 4, "unknown": "ignored"}, timeout=120)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["exceptions"] == [] and body["jobdir"].startswith("nb2w-")
    assert "/" not in body["jobdir"]  # a name, not a server path
    output = body["output"]
    assert output["text"] == "n=4 note=x" and output["value"] == 6.0
    table = ODAAstropyTable.decode(output["table"]).table
    assert list(table["y"]) == [0.0, 2.0, 4.0, 6.0]
    picture = PictureProduct.decode(output["picture"])
    assert picture.img_type == "png" and bytes(picture.binary_data)[:4] == b"\x89PNG"

    trace = httpx.get(server.url + f"/trace/{body['jobdir']}/products")
    assert trace.status_code == 200 and trace.headers["content-type"].startswith("text/html")
    assert "done" in trace.text

    failed = httpx.get(server.url + "/api/v1.0/get/failing", timeout=120)
    assert failed.status_code == 500
    assert failed.json()["exceptions"][0].startswith("ValueError(")
    unknown = httpx.get(server.url + "/nb2workflow/other/api/v1.0/get/products")
    assert unknown.status_code == 400 and "available targets: hello" in unknown.json()["issues"][0]


def test_asynchronous_run_with_callback(server, callbacks):
    callback, received = callbacks
    params = {"n": 2, "pause": 1.5, "_async_request": "yes",
              "_async_request_callback": callback}
    first = httpx.get(server.url + "/api/v1.0/get/products", params=params, timeout=30)
    assert first.status_code == 201
    assert first.json()["workflow_status"] in ("submitted", "started")
    seen = [first.json()["workflow_status"]]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = httpx.get(server.url + "/api/v1.0/get/products", params=params, timeout=30)
        seen.append(reply.json()["workflow_status"])
        if reply.status_code == 200:
            break
        assert reply.status_code == 201
        if seen[-1] == "started":
            assert reply.json()["jobdir"].startswith("nb2w-")
        time.sleep(0.3)
    body = reply.json()
    assert body["workflow_status"] == "done" and body["data"]["exceptions"] == []
    assert body["data"]["output"]["text"] == "n=2 note=x"
    assert "started" in seen
    for _ in range(50):
        if {"action": ["done"]} in received:
            break
        time.sleep(0.1)
    assert received[0] == {"action": ["progress"]} and received[-1] == {"action": ["done"]}

    failing = httpx.get(server.url + "/api/v1.0/get/failing",
                        params={"n": 7, "_async_request": "yes"}, timeout=30)
    for _ in range(100):
        if failing.status_code == 200:
            break
        time.sleep(0.2)
        failing = httpx.get(server.url + "/api/v1.0/get/failing",
                            params={"n": 7, "_async_request": "yes"}, timeout=30)
    [exc] = failing.json()["data"]["exceptions"]
    assert exc["ename"] == "ValueError"
    assert exc["evalue"] == "this notebook fails on purpose (n=7)"
    # bad values, asynchronously: done at once, with the issue as its exception
    bad = httpx.get(server.url + "/api/v1.0/get/products",
                    params={"n": 99, "_async_request": "yes"}, timeout=30)
    assert bad.status_code == 200 and bad.json()["data"]["output"] == "incomplete"
    assert "n" in bad.json()["data"]["exceptions"][0]["evalue"]


def test_plugin_request_encoding_of_none(server):
    """The plugin sends ``None`` as ``'\\x00'`` (and never sends ``_token`` as that)."""
    reply = httpx.get(server.url + "/api/v1.0/get/hello", params={"who": "MMODA"}, timeout=60)
    assert reply.json()["output"] == {"greeting": "hello MMODA", "nothing": None}
    reply = httpx.get(server.url + "/api/v1.0/get/hello", params={"who": "\x00"}, timeout=60)
    assert reply.status_code == 400


def test_file_parameter_given_a_mmoda_url(server, callbacks):
    """The dispatcher passes an uploaded file as its download URL: fetched (with the token
    added, as nb2workflow adds it) and given to the notebook as a local file."""
    url, received = callbacks  # the local server answers "ok" to any GET
    mmoda_url = url.split("?")[0] + "?file_list=abc&_is_mmoda_url=True&return_archive=False"
    token = jwt.encode({"sub": "alice", "exp": int(time.time() + 600)}, SECRET,
                       algorithm="HS256")
    reply = httpx.get(server.url + "/api/v1.0/get/read",
                      params={"path": mmoda_url, "_token": token}, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"]["content"] == "ok"
    assert received[-1]["token"] == [token] and received[-1]["file_list"] == ["abc"]
    gone = "http://127.0.0.1:9/dispatch-data/download_file?file_list=abc&_is_mmoda_url=True"
    reply = httpx.get(server.url + "/api/v1.0/get/read", params={"path": gone}, timeout=60)
    assert reply.status_code == 400
    assert reply.json()["issues"] == ["An issue, due to connection error, occurred when "
                                      f"attempting to getting the file size at the url {gone}"]
