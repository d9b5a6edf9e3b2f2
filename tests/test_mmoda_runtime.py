"""MMODA notebooks run as nb2workflow runs them (issue 17, Deliver 2).

The notebooks in ``tests/services/mmoda_runtime`` are written as MMODA authors write them. A
real ``astroflow serve`` runs them; the checks go through astroflow's HTTP API and, where the
MMODA side matters, through the real ``oda_api`` client against ``/dispatch-data``. What
nb2workflow does is read from its source (nbadapter.py ``cast_parameter``, ``_pass_context``;
service.py ``workflow``), not from this runtime.
"""

from __future__ import annotations

import io
import json
import mimetypes
import time

import httpx
import pytest
from server_process import TEST_SERVICES, ServerProcess

from astroflow.workflow.model import Parameter
from astroflow.workflow.validation import ValidationError, cache_key, validate

pytest.importorskip("oda_api")

API = "/api/v1"
DISPATCH = "/dispatch-data"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("mmoda-runtime"),
                            services=[TEST_SERVICES / "mmoda_runtime"],
                            env={"NO_PROXY": "127.0.0.1,localhost"}).start()
    yield process
    process.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def run(http, service: str, **parameters) -> dict:
    reply = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters})
    assert reply.status_code in (200, 201), reply.text
    done = http.get(f"{API}/jobs/{reply.json()['id']}", params={"wait": 30})
    assert done.status_code == 200, done.text
    return done.json()


def value(http, job: dict, name: str):
    reply = http.get(f"{API}/jobs/{job['id']}/products/{name}", params={"format": "json"})
    assert reply.status_code == 200, reply.text
    return reply.json()["value"]


def everything_returned(http, job: dict) -> str:
    """The job record, every product file and record, the executed notebook, as text."""
    texts = [json.dumps(job)]
    for product in job["products"]:
        for fmt in product["formats"]:
            reply = http.get(f"{API}/jobs/{job['id']}/products/{product['name']}",
                             params={"format": fmt})
            texts.append(reply.content.decode("utf-8", "replace"))
    notebook = http.get(f"{API}/jobs/{job['id']}/notebook")
    assert notebook.status_code == 200, notebook.text
    texts.append(notebook.text)
    texts.append(http.get(f"{API}/jobs/{job['id']}/provenance").text)
    return "\n".join(texts)


# --- None outputs ---------------------------------------------------------------------------

def test_a_none_output_is_left_out_not_a_failure(http):
    job = run(http, "optional-products")
    assert job["state"] == "done", job["error"]
    assert [p["name"] for p in job["products"]] == ["summary", "table"]
    assert value(http, job, "summary") == "5 points, picture: False, table: True"
    both = run(http, "optional-products", make_picture=True, make_table=False, n_points=3)
    assert both["state"] == "done", both["error"]
    assert [p["name"] for p in both["products"]] == ["summary", "picture"]
    assert [p["type"] for p in both["products"]] == ["scalar", "picture"]


# --- get_context and progress ---------------------------------------------------------------

def test_context_has_a_token_key_and_no_server_path(http, server):
    job = run(http, "context-report", stage="reading")
    assert job["state"] == "done", job["error"]
    context = json.loads(value(http, job, "context_json"))
    assert set(context) == {"callback", "token"} and context["token"] is None
    assert value(http, job, "has_token_key") is True and value(http, job, "token_is_none") is True
    assert value(http, job, "reporter_enabled") is True
    # The callback is a file:// URL of the run's own folder, relative: no server path in it.
    assert context["callback"].startswith("file://") and "/" not in context["callback"][7:]
    returned = everything_returned(http, job)
    assert str(server.data_dir) not in returned
    assert "working in ." in returned  # the notebook's printout names its folder relatively


def test_declared_token_access_without_a_token_gives_none(http):
    job = run(http, "context-token", band="g")
    assert job["state"] == "done", job["error"]
    assert value(http, job, "has_token") is False
    assert value(http, job, "context_keys") == "callback,token"


def test_failure_messages_do_not_name_server_paths(http, server):
    job = run(http, "failing-path", name="absent.fits")
    assert job["state"] == "failed"
    assert "absent.fits" in job["error"]["message"]
    returned = everything_returned(http, job)
    assert str(server.data_dir) not in returned
    assert str(server.data_dir.resolve()) not in returned


# --- parameters: as written, MMODA's empty strings ------------------------------------------

def test_times_keep_their_spelling_and_share_the_cache(http):
    written = run(http, "conventions", T1="2022-10-01T00:00:00", T2="2022-10-02T12:00:00")
    assert written["state"] == "done", written["error"]
    assert value(http, written, "echoed") == \
        "('2022-10-01T00:00:00', '2022-10-02T12:00:00', True, 'run')"
    assert value(http, written, "n_events") == 2
    # The same instants spelled otherwise are the same request: the job is shared.
    again = run(http, "conventions", T1="2022-10-01T00:00:00.000", T2="2022-10-02T12:00:00")
    assert again["id"] == written["id"]
    # An MJD for an ISOT parameter is converted to the declared format.
    mjd = run(http, "conventions", T1="2022-10-03T00:00:00", T2=59854.5)
    assert mjd["state"] == "done", mjd["error"]
    assert value(http, mjd, "echoed") == \
        "('2022-10-03T00:00:00', '2022-10-02T12:00:00.000', True, 'run')"


def test_empty_strings_follow_mmoda(http):
    job = run(http, "conventions", use_background="", label="")
    assert job["state"] == "done", job["error"]
    assert value(http, job, "echoed") == \
        "('2022-10-01T00:00:00', '2022-10-02T12:00:00', False, '')"
    refused = http.post(f"{API}/services/conventions/jobs",
                        json={"parameters": {"events_file": ""}})
    assert refused.status_code == 422
    [error] = refused.json()["error"]["errors"]
    assert error["field"] == "events_file"
    assert "Empty string is not a valid value of FileReference parameter events_file" \
        in error["reason"]


def test_validation_keeps_the_spelling_but_keys_the_canonical_form():
    from astroflow.ontology import resolve

    t1 = Parameter("T1", str, "2022-10-01T00:00:00",
                   ontology=resolve("http://odahub.io/ontology#StartTimeISOT"),
                   format="isot")
    flag = Parameter("flag", bool, True)
    path = Parameter("path", str, "a.csv",
                     ontology=resolve("http://odahub.io/ontology#POSIXPath"))
    params = {"T1": t1, "flag": flag, "path": path}
    short = validate(params, {"T1": " 2022-10-01T00:00:00"})
    full = validate(params, {"T1": "2022-10-01T00:00:00.000"})
    assert short["T1"] == "2022-10-01T00:00:00" and full["T1"] == "2022-10-01T00:00:00.000"
    assert cache_key("s", short) == cache_key("s", full)
    assert cache_key("s", short) != cache_key("s", validate(params, {"T1": "2022-10-01T00:00:01"}))
    assert validate(params, short) == short  # validating again changes nothing
    assert validate(params, {"T1": 59853})["T1"] == "2022-10-01T00:00:00.000"
    assert validate(params, {"flag": ""})["flag"] is False
    with pytest.raises(ValidationError, match="path: Empty string is not a valid value"):
        validate(params, {"path": ""})


# --- JPEG pictures --------------------------------------------------------------------------

def test_jpeg_picture_from_oda_api(http):
    job = run(http, "jpeg-picture", size=3)
    assert job["state"] == "done", job["error"]
    assert value(http, job, "img_type") == "jfif"  # oda_api's own word for it
    [sky] = [p for p in job["products"] if p["name"] == "sky"]
    assert sky["type"] == "picture" and "jpeg" in sky["formats"]
    data = http.get(f"{API}/jobs/{job['id']}/products/sky").content
    assert data[:3] == b"\xff\xd8\xff"
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (150, 100)  # 3 x 2 inches at 50 dpi
    # The file oda_api writes is named by its type: copy.jfif, a JPEG picture too.
    [copy] = [p for p in job["products"] if p["name"] == "sky_file"]
    assert copy["type"] == "picture" and copy["formats"] == ["jpeg"]
    assert http.get(f"{API}/jobs/{job['id']}/products/sky_file").content == data


# --- through the real oda_api client --------------------------------------------------------

@pytest.fixture
def disp(server, monkeypatch, tmp_path):
    from oda_api.api import DispatcherAPI

    monkeypatch.delenv("ODA_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return DispatcherAPI(url=server.url + DISPATCH, instrument="optional-products")


def by_name(collection) -> dict:
    return {p.name: p for p in collection._p_list}


def test_oda_api_client_sees_optional_and_jpeg_products(disp):
    from oda_api.data_products import PictureProduct

    collection = disp.get_product(instrument="optional-products", product="optional-products",
                                  silent=True, make_table=False)
    products = by_name(collection)
    assert set(products) == {"summary"}
    # oda_api's client decodes a picture with the same type detection: a client whose
    # mimetypes database knows .jfif (as MMODA's images do) decodes the JPEG.
    mimetypes.add_type("image/jpeg", ".jfif")
    collection = disp.get_product(instrument="jpeg-picture", product="jpeg-picture",
                                  silent=True, size=2)
    sky = by_name(collection)["sky"]
    assert isinstance(sky, PictureProduct) and sky.binary_data[:3] == b"\xff\xd8\xff"


def test_oda_api_client_empty_file_path_is_a_400_naming_it(disp):
    from oda_api.api import RequestNotUnderstood

    started = time.monotonic()
    with pytest.raises(RequestNotUnderstood, match="events_file"):
        disp.get_product(instrument="conventions", product="conventions", silent=True,
                         events_file="")
    assert time.monotonic() - started < 10


def test_a_list_of_oda_api_products_is_one_product_each(http, server):
    """nb2workflow's plugin makes one product of each element of a list output
    (``NB2WProduct._init_as_list``): here ``band_tables_0`` … ``_2``, also through oda_api."""
    job = run(http, "product-list", n_tables=3)
    assert job["state"] == "done", job.get("error")
    names = [p["name"] for p in job["products"]]
    assert names == ["band_tables_0", "band_tables_1", "band_tables_2"], names
    table = http.get(f"{API}/jobs/{job['id']}/products/band_tables_2",
                     params={"format": "csv"}).text
    assert "2,3.0" in table.replace(" ", "")
    from oda_api.api import DispatcherAPI

    disp = DispatcherAPI(url=server.url + DISPATCH, wait=False)
    data = disp.get_product(instrument="product-list", product="product-list", n_tables=2)
    while not disp.is_complete:
        disp.poll()
        time.sleep(0.2)
    data = disp.get_product(instrument="product-list", product="product-list", n_tables=2)
    assert len(data._p_list) == 2
