"""MMODA's instrument/product model and the fields dispatcher-plugin-nb2workflow returns,
against a real astroflow server, through the real ``oda_api`` client where it reads them.

The expectations are MMODA's, taken from the plugin's own tests (oda-hub/
dispatcher-plugin-nb2workflow, tests/test_plugin.py) and the dispatcher's code (oda-hub/
dispatcher-app): a repository is an instrument and its notebooks its products; ``token_rename``
reaches a notebook parameter called ``token``; times in ``meta-data`` as
``astropy.time.Time(value, format).value``; ``'Non-optional parameter X is set to None'``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import jwt
import pytest
from server_process import SECRET, ServerProcess

oda_api = pytest.importorskip("oda_api")
from oda_api.api import DispatcherAPI  # noqa: E402

RUN = "/dispatch-data/run_analysis"

ECHO = '''# %% tags=["parameters"]
poi_ra = 10.0  # oda:PointOfInterestRA
poi_dec = 20.0  # oda:PointOfInterestDEC
start_time = 56000.0  # oda:StartTimeMJD
time_instant = "2017-08-17T12:43:00"  # oda:TimeInstantISOT
band = "z"  # oda:String ; oda:allowed_value "z", "v", "b"
energy = 50.0  # oda:Float ; oda:lower_limit 35 ; oda:upper_limit 800
token = "XGDSgs2KYqHr"
non_opt = 1.5  # oda:Float
catalog_url = "http://127.0.0.1:9/none"  # oda:FileURL

# %%
from astroflow import progress

progress(stage="echo", fraction=0.5, message="echoing")
echoed = repr(dict(poi_ra=poi_ra, poi_dec=poi_dec, start_time=start_time,
                   time_instant=time_instant, band=band, energy=energy, token=token,
                   non_opt=non_opt, catalog_url=catalog_url))

# %% tags=["outputs"]
output = echoed  # oda:ODATextProduct ; oda:label "Echoed parameters"
doubled = non_opt * 2  # oda:Float
nothing = None  # oda:Float
'''

FAILING = '''# %% tags=["parameters"]
n = 1  # oda:Integer

# %%
raise ValueError(f"this notebook fails on purpose (n={n})")

# %% tags=["outputs"]
result = n  # oda:Integer
'''

# The plugin's tests/example_nb/optional_par.ipynb, cell for cell: a PEP 604 annotation makes
# opt_par0 optional, "oda:optional" after a comma opt_par1; the outputs cell names bare
# variables with their classes.
OPTIONAL_PAR = """# %%
from __future__ import annotations

# %% tags=["parameters"]
opt_par0: float|None = 5.0
opt_par1 = None # oda:Float, oda:optional
non_opt = 2.3

# %% tags=["outputs"]
opt_par0 # oda:Float
opt_par1 # oda:Float
non_opt # oda:Float
"""


def example_repository(root: Path) -> Path:
    """A repository ``example`` with three notebooks (``echo``, ``failing``, ``optional_par``)."""
    repo = root / "example"
    repo.mkdir(parents=True)
    (repo / "echo.py").write_text(ECHO)
    (repo / "failing.py").write_text(FAILING)
    (repo / "optional_par.py").write_text(OPTIONAL_PAR)
    return root


def token(sub: str = "alice") -> str:
    return jwt.encode({"sub": sub, "roles": [], "exp": int(time.time() + 600)}, SECRET,
                      algorithm="HS256")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = example_repository(tmp_path_factory.mktemp("repos"))
    process = ServerProcess(tmp_path_factory.mktemp("dispatcher-model"),
                            services=[root]).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch, tmp_path):
    monkeypatch.delenv("ODA_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def run(server, **fields) -> dict:
    """``run_analysis`` until the job ends, as the plugin's tests poll it."""
    fields = {"query_status": "new", "query_type": "Real", **fields}
    for _ in range(60):
        reply = httpx.get(server.url + RUN, params=fields, timeout=30)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        if answer["exit_status"]["job_status"] in ("done", "failed"):
            return answer
        fields.update(query_status=answer["query_status"],
                      job_id=answer["job_monitor"]["job_id"],
                      session_id=answer["session_id"])
        time.sleep(0.3)
    raise AssertionError("the job did not end")


def test_a_repository_is_an_instrument_and_its_notebooks_its_products(server):
    disp = DispatcherAPI(url=server.url + "/dispatch-data")
    listed = disp.get_instruments_list()
    assert "example" in listed and "echo" in listed  # the repository, and the service
    [described] = disp.get_instrument_description("example")
    assert described[0] == {"instrumet": "example"}
    assert described[1] == {"prod_dict": {"echo": "echo_query", "failing": "failing_query",
                                          "optional_par": "optional_par_query"}}
    products = {q[1]["product_name"]: {e["name"]: e for e in q[2:]} for q in described[4:]}
    assert set(products) == {"echo", "failing", "optional_par"}
    echo = products["echo"]
    # a notebook parameter named `token` is reached as MMODA names it
    assert "token_rename" in echo and "token" not in echo
    assert echo["token_rename"]["value"] == "XGDSgs2KYqHr"
    # times as MMODA shows them: Time(value, format).value
    assert echo["time_instant"]["value"] == "2017-08-17T12:43:00.000"
    source = {e["name"]: e for e in described[2] if "name" in e}
    assert source["T1"]["value"] == 56000.0 and source["RA"]["value"] == 10.0
    names = httpx.get(server.url + "/dispatch-data/api/par-names",
                      params={"instrument": "example", "product_type": "echo"}).json()
    assert {"RA", "DEC", "T1", "T_format", "token", "token_rename", "band"} <= set(names)
    assert names.count("token") == 1  # the dispatcher's own token field

    # the real client, MMODA's way: instrument=<repository>, product=<notebook>
    result = disp.get_product(instrument="example", product="echo", token_rename="abc",
                              RA=23.5, T1=58745.5, T_format="mjd", band="v", silent=True)
    echoed = eval(result.output_0.value)  # noqa: S307 - our own notebook's repr of a dict
    assert echoed["token"] == "abc" and echoed["poi_ra"] == 23.5 and echoed["band"] == "v"
    assert echoed["start_time"] == 58745.5
    assert result.doubled_1.value == 3.0
    # each notebook stays an instrument of its own too
    alone = disp.get_product(instrument="echo", product="echo", silent=True)
    assert eval(alone.output_0.value)["token"] == "XGDSgs2KYqHr"  # noqa: S307


def test_fields_the_plugin_returns(server):
    answer = run(server, instrument="example", product_type="echo", api="True")
    assert answer["exit_status"]["job_status"] == "done" and answer["job_status"] == "done"
    products = answer["products"]
    assert products["extra_metadata"] == {"output": {"label": "Echoed parameters"},
                                          "doubled": {}, "nothing": {}}
    assert products["prod_uris"]["output"] == "http://odahub.io/ontology#ODATextProduct"
    # a value left as None is still returned, as MMODA does (plugin: test_optional_parameters)
    assert {"name": "nothing", "value": None,
            "meta_data": {"uri": "http://odahub.io/ontology#Float"}} in products["text_product_list"]
    assert "image" not in products  # oda_api reads the lists, not the HTML

    page = run(server, instrument="example", product_type="echo", non_opt=2.5)  # no api
    images = page["products"]["image"]
    divs = [i["image"]["div"] for i in images]
    assert any(d.startswith('<p style="white-space: pre-wrap;">') and "&#x27;non_opt&#x27;: 2.5"
               in d for d in divs)
    assert "<br>value: 5.0<br>uri: http://odahub.io/ontology#Float" in divs
    # the plugin draws a value output left as None too, in the outputs' order
    assert page["products"]["name"] == ["output", "doubled", "nothing"]
    assert divs[2] == "<br>value: None<br>uri: http://odahub.io/ontology#Float"

    progress = run(server, instrument="example", product_type="echo", non_opt=3.5,
                   api="True", return_progress="True")
    [entry] = progress["products"]["progress_product_list"]
    assert entry["name"] == "progress" and "<table>" in entry["value"]
    html = run(server, instrument="example", product_type="echo", non_opt=3.5,
               return_progress="True")
    assert html["products"]["progress_product_html_output"][0].startswith("<div")

    failed = run(server, instrument="example", product_type="failing")
    assert failed["exit_status"]["job_status"] == "failed"
    assert "fails on purpose" in failed["exit_status"]["message"]


@pytest.mark.parametrize("api", [True, False])
@pytest.mark.parametrize("opt_par0", [None, 4.2, "\x00"])
@pytest.mark.parametrize("opt_par1", [None, 2.4, "\x00"])
def test_optional_parameters(server, api, opt_par0, opt_par1):
    """The plugin's test_optional_parameters, all 18 cases: a field left out keeps its default,
    "\x00" sets an optional parameter to None; both forms of the answer show the values."""
    described = httpx.get(server.url + "/dispatch-data/meta-data",
                          params={"instrument": "example"}).json()
    query = next(q for q in described[0][4:] if q[1]["product_name"] == "optional_par")
    parameters = query[2:]
    for par in parameters:
        assert par["restrictions"]["is_optional"] is (par["name"] != "non_opt"), par
    expected = {par["name"]: par["value"] for par in parameters}
    assert expected == {"opt_par0": 5.0, "opt_par1": None, "non_opt": 2.3}
    request = {"instrument": "example", "product_type": "optional_par"}
    for name, value in (("opt_par0", opt_par0), ("opt_par1", opt_par1)):
        if value is not None:  # requests, as the plugin's test uses it, leaves None out
            request[name] = value
            expected[name] = None if value == "\x00" else value
    if api:
        request["api"] = "yes"
    answer = run(server, **request)
    assert answer["exit_status"]["job_status"] == "done", answer["exit_status"]
    if api:
        texts = answer["products"]["text_product_list"]
        assert {t["name"]: t["value"] for t in texts} == expected
    else:
        divs = [image["image"]["div"] for image in answer["products"]["image"]]
        shown = [re.search(r"value: ([^<]+)", div).group(1) for div in divs]
        assert shown == [str(v) for v in expected.values()]


def test_non_optional_parameter_set_to_none(server):
    reply = httpx.get(server.url + RUN, params={"instrument": "example", "query_status": "new",
                                                "product_type": "echo", "non_opt": "\x00"})
    assert reply.status_code == 400
    assert reply.json()["error_message"] == "Non-optional parameter non_opt is set to None"


def test_token_forwarded_into_mmoda_download_urls(server):
    secret = token()
    url = ("https://mmoda.example.org/dispatch-data/download_file?file_list=abc123"
           "&_is_mmoda_url=True&return_archive=False")
    answer = run(server, instrument="example", product_type="echo", api="True",
                 catalog_url=url, token=secret)
    echoed = eval(answer["products"]["text_product_list"][0]["value"])  # noqa: S307
    assert echoed["catalog_url"] == url + "&token=" + secret
    other = "https://example.org/catalogue.fits?x=1"  # not a MMODA URL: left as it is
    answer = run(server, instrument="example", product_type="echo", api="True",
                 catalog_url=other, token=secret)
    assert eval(answer["products"]["text_product_list"][0]["value"])["catalog_url"] == other  # noqa: S307
