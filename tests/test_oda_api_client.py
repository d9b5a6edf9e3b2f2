"""The real ``oda_api`` client (from PyPI) against a real astroflow server's dispatcher facade.

Every check is made on what ``oda_api`` itself returns: its ``DataCollection`` and product
classes, its exceptions, its polling state.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time

import httpx
import jwt
import numpy as np
import pytest
from server_process import SECRET, TEST_SERVICES, ServerProcess

oda_api = pytest.importorskip("oda_api")
from oda_api.api import (  # noqa: E402
    DispatcherAPI,
    RemoteException,
    RequestNotUnderstood,
    Unauthorized,
    UnexpectedDispatcherStatusCode,
)
from oda_api.data_products import (  # noqa: E402
    BinaryProduct,
    NumpyDataProduct,
    ODAAstropyTable,
    PictureProduct,
    TextLikeProduct,
)

from astroflow.compat.snippet import oda_api_snippet  # noqa: E402

DISPATCH = "/dispatch-data"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("oda-api"),
                            services=[TEST_SERVICES / "mmoda", TEST_SERVICES / "private"]).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch, tmp_path):
    """oda_api looks for tokens in ODA_TOKEN, ./.oda-token and ~/.oda-token: none here."""
    monkeypatch.delenv("ODA_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def disp(server) -> DispatcherAPI:
    return DispatcherAPI(url=server.url + DISPATCH, instrument="light-curve")


def token(sub: str = "alice", roles: tuple[str, ...] = (), ttl: float = 600,
          key: str = SECRET) -> str:
    return jwt.encode({"sub": sub, "roles": list(roles), "exp": int(time.time() + ttl)}, key,
                      algorithm="HS256")


def get(disp: DispatcherAPI, instrument: str, **parameters):
    return disp.get_product(instrument=instrument, product=instrument, silent=True,
                            **parameters)


def by_name(collection) -> dict:
    return {p.name: p for p in collection._p_list}


# --- instruments ----------------------------------------------------------------------------

def test_instruments_list_follows_roles(server, disp):
    listed = disp.get_instruments_list()
    assert {"light-curve", "product-gallery", "raising", "token-access"} <= set(listed)
    assert "hidden" not in listed
    team = DispatcherAPI(url=server.url + DISPATCH, token=token(roles=("secret-team",)))
    assert "hidden" in team.get_instruments_list()
    with pytest.raises(UnexpectedDispatcherStatusCode, match="invalid signature"):
        DispatcherAPI(url=server.url + DISPATCH,
                      token=token(key="another-secret-of-at-least-32-bytes!!")
                      ).get_instruments_list()


def test_instrument_description(server, disp):
    [described] = disp.get_instrument_description("light-curve")
    assert described[0] == {"instrumet": "light-curve"}
    assert described[1] == {"prod_dict": {"light-curve": "light-curve_query"}}
    source = {e["name"]: e for e in described[2] if "name" in e}
    assert list(source) == ["src_name", "RA", "DEC", "T1", "T2", "T_format", "token"]
    assert source["RA"]["units"] == "deg" and source["RA"]["value"] == 83.633
    product = {e["name"]: e for e in described[4] if "name" in e}
    assert product["n_bins"]["restrictions"] == {"is_optional": False, "min_value": 2,
                                                 "max_value": 1000}
    assert product["n_bins"]["owl_uri"] == ["http://odahub.io/ontology#Integer"]
    assert disp.get_product_description("light-curve", "light-curve") == [described]
    names = httpx.get(server.url + DISPATCH + "/api/par-names",
                      params={"instrument": "light-curve", "product_type": "light-curve"}).json()
    assert names == ["src_name", "RA", "DEC", "T1", "T2", "T_format", "token", "n_bins"]
    with pytest.raises(UnexpectedDispatcherStatusCode, match="not known"):
        disp.get_instrument_description("no-such-instrument")


# --- products -------------------------------------------------------------------------------

def test_light_curve_through_the_source_query(disp):
    collection = get(disp, "light-curve", src_name="Vela", RA=128.8, DEC=-45.2, T1=59275.0,
                     T2=59277.0, T_format="mjd", n_bins=4)
    products = by_name(collection)
    lc = products["Vela light curve"]  # the object's own name, as MMODA's plugin keeps it
    assert isinstance(lc, NumpyDataProduct) and len(lc.data_unit) == 2
    data = lc.data_unit[1].data
    assert data.dtype.names == ("TIME", "RATE", "ERROR")
    assert data["TIME"] == pytest.approx([59275.25, 59275.75, 59276.25, 59276.75])
    assert data["RATE"] == pytest.approx(10 + np.arange(4) - 0.452)
    assert lc.data_unit[1].units_dict["TIME"] == "d"
    assert lc.to_fits_hdu_list()[1].columns["RATE"].unit == "count s-1"
    position = products["source_position"]
    assert isinstance(position, TextLikeProduct)
    assert position.value == "Vela at RA=128.800 Dec=-45.2000"
    returned = disp.returned_analysis_parameters
    assert returned["T1"] == "59275.0" and returned["job_id"] == collection.request_job_id
    disp.returned_analysis_parameters_consistency()
    again = get(disp, "light-curve", src_name="Vela", RA="128.8", DEC=-45.2,
                T1="2021-03-02T00:00:00", T2="2021-03-04T00:00:00", n_bins=4)
    assert again.request_job_id == collection.request_job_id  # the same request, cached


def test_every_product_type(disp):
    products = by_name(get(disp, "product-gallery", size=3))
    # MMODA's plugin: an oda_api object keeps its own name (ODAAstropyTable "catalog",
    # NumpyDataProduct "response", BinaryProduct "raw"), one without a name takes the
    # output's, and texts and scalars are named by their outputs.
    assert set(products) == {"catalog", "sky_image", "response", "flux_plot", "raw", "report",
                             "peak"}
    table = products["catalog"]
    assert isinstance(table, ODAAstropyTable)
    assert list(table.table["name"]) == ["src A", "src B", "src C"]
    assert list(table.table["flux"]) == [1.5, 2.5, 4.0]
    assert list(table.table["detected"]) == [True, False, True]
    assert str(table.table["flux"].unit) == "erg / (s cm2)"
    image = products["sky_image"]
    assert isinstance(image, NumpyDataProduct)
    assert image.data_unit[0].data.tolist() == np.arange(9.0).reshape(3, 3).tolist()
    from astropy.wcs import WCS

    wcs = WCS(image.to_fits_hdu_list()[0].header)
    assert list(wcs.wcs.crval) == [83.633, 22.0145] and list(wcs.wcs.ctype) == ["RA---TAN",
                                                                               "DEC--TAN"]
    assert products["response"].data_unit[0].data.tolist() == [[0, 1, 2], [3, 4, 5]]
    picture = products["flux_plot"]
    assert isinstance(picture, PictureProduct) and picture.img_type == "png"
    assert picture.binary_data[:8] == b"\x89PNG\r\n\x1a\n"
    raw = products["raw"]
    assert isinstance(raw, BinaryProduct) and raw.bin_data == bytes(range(8)) + b"end"
    assert products["report"].value == "3 sources\nbrightest: src C"
    assert products["peak"].value == 8.0 and products["peak"].meta_data["uri"].endswith("Float")


def test_structured_boolean_optional_and_multiline_values(disp):
    summary = by_name(get(disp, "structured-input", bands=["u", "z"],
                          zero_points={"u": [22.5]}))["summary"].value
    assert json.loads(summary) == {"label": "baz", "bands": ["u", "z"],
                                   "zero_points": {"u": [22.5]}}
    flags = by_name(get(disp, "booleans", use_background=False, strict=True))["flags"].value
    assert flags == "bool:False,bool:True"
    query = "SELECT ra\nFROM stars\n"
    echo = by_name(get(disp, "multiline-optional", threshold=None, n_trials=None, query=query,
                       filters={"gaia": ["G"]}))["echo"].value
    assert echo["threshold"] is None and echo["n_trials"] is None
    assert echo["query"] == query and echo["filters"] == {"gaia": ["G"]}


# --- tokens ---------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:parameter check not available")
def test_token_passing(server, disp):
    products = by_name(get(disp, "token-access", token=token("bob")))
    assert products["token_subject"].value == "bob"
    assert products["context_keys"].value == "callback,token"
    assert by_name(get(disp, "token-access", band="i"))["token_subject"].value == ""
    with pytest.raises(Unauthorized, match="token expired"):
        get(disp, "token-access", token=token("bob", ttl=-60))
    with pytest.raises(RequestNotUnderstood, match="not known"):
        get(disp, "hidden", x=1.0)
    hidden = by_name(get(disp, "hidden", x=1.0, token=token("carol", roles=("secret-team",))))
    assert hidden["y"].value == 2.0


# --- failures -------------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "message"), [
    ("runtime", "RuntimeError: the detector model diverged"),
    ("analysis", "no photons in the requested time range"),
    ("kill", "SIGKILL"),
])
def test_failures_raise_remote_exceptions(disp, failure, message):
    with pytest.raises(RemoteException) as caught:
        get(disp, "raising", failure=failure)
    assert message in caught.value.message
    assert disp.query_status == "failed"


@pytest.mark.filterwarnings("ignore:parameter check not available", "ignore:\\s+-+\\s+the parameter")
def test_invalid_requests_are_not_understood(disp):
    with pytest.raises(RequestNotUnderstood, match="n_bins"):
        get(disp, "light-curve", n_bins=5000)
    with pytest.raises(RequestNotUnderstood, match="T1"):
        get(disp, "light-curve", T1="yesterday", T_format="mjd")
    with pytest.raises(RequestNotUnderstood, match="has no product"):
        disp.get_product(instrument="light-curve", product="spectrum", silent=True)
    collection = get(disp, "booleans", unknown_knob=3)
    assert disp.response_json["exit_status"]["comment"] == ("Please note that argument "
                                                            "unknown_knob is not used")
    assert by_name(collection)["flags"].value == "bool:True,bool:False"


# --- polling --------------------------------------------------------------------------------

def test_polling_shows_progress(server):
    disp = DispatcherAPI(url=server.url + DISPATCH, wait=False)
    assert get(disp, "progress-report", steps=5, pause=0.8) is None
    statuses = [disp.query_status]
    reports = list(disp.response_json["job_monitor"]["full_report_dict_list"])
    while not disp.is_complete:
        collection = disp.poll()
        statuses.append(disp.query_status)
        reports += disp.response_json["job_monitor"]["full_report_dict_list"]
    assert "progress" in statuses and statuses[-1] == "done"
    assert any(r["stage"] == "integration" and r["substage"].startswith("chunk")
               and 0 <= r["progress"] <= 100 for r in reports), reports
    assert by_name(collection)["reporter_enabled"].value is True


# --- the protocol without oda_api -----------------------------------------------------------

def test_run_analysis_answers_get_and_post_alike(server):
    fields = {"instrument": "booleans", "product_type": "booleans", "query_status": "new",
              "session_id": "S1", "strict": "True"}
    with httpx.Client(base_url=server.url + DISPATCH, timeout=30) as client:
        by_get = client.get("/run_analysis", params=fields).json()
        by_post = client.post("/run_analysis", data=fields).json()
        assert by_get["query_status"] == by_post["query_status"] == "done"
        assert by_get["job_monitor"]["job_id"] == by_post["job_monitor"]["job_id"]
        assert by_get["job_monitor"]["session_id"] == "S1"
        assert by_get["exit_status"]["status"] == 0
        assert by_get["products"]["text_product_list"][0]["value"] == "bool:True,bool:True"
        assert "DispatcherAPI" in by_get["products"]["api_code"]
        poll = client.get("/run_analysis", params={**fields, "query_status": "submitted",
                                                   "job_id": by_get["job_monitor"]["job_id"]})
        assert poll.json()["query_status"] == "done"
        wrong = client.get("/run_analysis", params={**fields, "instrument": "raising",
                                                    "product_type": "raising",
                                                    "query_status": "progress",
                                                    "job_id": by_get["job_monitor"]["job_id"]})
        assert wrong.status_code == 400 and "belongs to" in wrong.json()["error"]
        assert client.get("/run_analysis", params={"query_status": "new"}).status_code == 400
        bad_status = client.get("/run_analysis", params={**fields, "query_status": "sleeping"})
        assert bad_status.status_code == 400


def test_uploaded_file_in_a_multipart_request(server):
    csv = b"time,energy\n1,2\n3,4\n5,6\n7,8\n"
    with httpx.Client(base_url=server.url + DISPATCH, timeout=30) as client:
        # Uploads need a token on a server that verifies them (this one does).
        answer = client.post("/run_analysis", data={"instrument": "file-path",
                                                    "query_status": "new", "token": token()},
                             files={"events_file": ("burst.csv", csv)}).json()
        for _ in range(10):  # a loaded machine may need longer than the first answer waits
            if answer["query_status"] != "submitted":
                break
            answer = client.get("/run_analysis", params={
                "instrument": "file-path", "query_status": "submitted", "token": token(),
                "job_id": answer["job_monitor"]["job_id"]}).json()
    assert answer["query_status"] == "done", answer["exit_status"]
    texts = {t["name"]: t["value"] for t in answer["products"]["text_product_list"]}
    assert texts == {"n_events": 4, "file_name": "burst.csv"}
    [table] = answer["products"]["astropy_table_product_ascii_list"]
    assert "# %ECSV" in table["ascii"]


def test_download_products(server, disp):
    job_id = get(disp, "product-gallery", size=3).request_job_id
    url = server.url + DISPATCH + "/download_products"
    one = httpx.get(url, params={"job_id": job_id, "file_list": "report",
                                 "return_archive": "False"})
    assert one.status_code == 200 and one.content == b"3 sources\nbrightest: src C"
    zipped = httpx.get(url, params={"job_id": job_id, "file_list": "report"})
    assert gzip.decompress(zipped.content) == b"3 sources\nbrightest: src C"
    archive = httpx.get(url, params={"job_id": job_id, "file_list": "report,catalog_table"})
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        names = sorted(n.rsplit("/", 1)[1] for n in tar.getnames())
    assert "report.txt" in names and {"catalog_table.ecsv", "catalog_table.fits"} <= set(names)
    missing = httpx.get(url, params={"job_id": job_id, "file_list": "nothing"})
    assert missing.status_code == 400 and "nothing" in missing.json()["error"]
    assert httpx.get(url, params={"job_id": "0" * 32}).status_code == 400


def test_snippet_runs_as_shown(server):
    code = oda_api_snippet("light-curve", {"RA": 10.0, "DEC": 5.0, "n_bins": 3}, server.url)
    namespace: dict = {}
    exec(compile(code, "<snippet>", "exec"), namespace)  # noqa: S102 - our own rendered code
    lc = by_name(namespace["data_collection"])["Crab light curve"]
    assert len(lc.data_unit[1].data) == 3
    odd = oda_api_snippet("x", {"class": 1, "product": 2, "ok": [1, None]}, "http://h/",
                          needs_token=True)
    compile(odd, "<snippet>", "exec")
    assert "url='http://h/dispatch-data'" in odd and "**{'class': 1}" in odd
    assert "ok=[1, None]" in odd and "ODA_TOKEN" in odd and "product=2" not in odd


# --- encodings, decoded by oda_api itself ---------------------------------------------------

def _as_oda_api_reads_it(encoded: dict) -> dict:
    """What ``DispatcherAPI._decode_res_json`` does to an answer before decoding products."""
    import ast

    return ast.literal_eval(str(json.loads(json.dumps(encoded, allow_nan=False)))
                            .replace("null", "None"))


def test_array_encodings_survive_oda_api_decoding():
    from astropy.io import fits
    from oda_api.data_products import NumpyDataUnit

    from astroflow.compat.encoding import data_unit

    image = np.array([[1.0, np.nan], [np.inf, -np.inf]], dtype=">f4")
    events = np.array([(1, 2.5, b"null", True, [1.0, 2.0]), (2, -0.0, b"x", False, [3.0, 4.0])],
                      dtype=[("ID", ">i4"), ("E", ">f8"), ("TAG", "S4"), ("OK", "?"),
                             ("VEC", ">f8", (2,))])
    table = fits.BinTableHDU(events, name="EVENTS")
    table.columns["E"].unit = "keV"
    profile = fits.ImageHDU(np.arange(4.0), name="PROFILE")  # 1-D: the one case pickled
    for hdu in (fits.PrimaryHDU(image), table, profile):
        encoded = data_unit(hdu)
        decoded = NumpyDataUnit.decode(_as_oda_api_reads_it(encoded))
        assert decoded.hdu_type == encoded["hdu_type"]
        assert (encoded["binarys"] is None) == (hdu is not profile)
        if hdu is table:
            assert [str(t, "ascii") if isinstance(t, bytes) else t for t in decoded.data["TAG"]] == ["null", "x"]
            assert decoded.data["OK"].tolist() == [True, False]
            assert decoded.data["VEC"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
            assert decoded.units_dict == {"E": "keV"}
            rebuilt = decoded.to_fits_hdu()
            assert rebuilt.name == "EVENTS" and rebuilt.columns["E"].unit == "keV"
        else:
            np.testing.assert_array_equal(decoded.data, hdu.data)
