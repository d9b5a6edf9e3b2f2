"""Data manager: local copies, checksums, clear failures."""

from __future__ import annotations

import shutil

import pytest
from icecube_ps import data, release
from icecube_ps.errors import AnalysisError


def test_fetch_from_local_10year(tmp_path, small_release_dir):
    src = tmp_path / "copy"
    shutil.copytree(small_release_dir / "events", src / "events")
    shutil.copytree(small_release_dir / "uptime", src / "uptime")
    shutil.copytree(small_release_dir / "irfs", src / "irfs")
    path = data.fetch(tmp_path / "store", source=src, release="10year", log=lambda m: None)
    assert path == data.cache_path(tmp_path / "store", "10year")
    rel = release.load_cache(path)
    assert rel.n_events == release.read_10year(src).n_events
    assert rel.meta["provenance"] == {"local": str(src)}
    # Second call: the cache is returned without touching the source.
    shutil.rmtree(src)
    assert data.fetch(tmp_path / "store", release="10year", log=lambda m: None) == path


def test_fetch_says_what_it_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "OFFICIAL_URLS", ("http://127.0.0.1:9/nothing.zip",))
    monkeypatch.delenv("ICECUBE_PS_SOURCE", raising=False)
    with pytest.raises(AnalysisError) as err:
        data.fetch(tmp_path, release="10year", timeout=2, log=lambda m: None)
    assert "no IceCube data could be had" in str(err.value)
    assert "official 10-year release" in str(err.value)


def test_wheel_checksum_is_enforced(tmp_path):
    fake = tmp_path / data.FLARESTACK_WHEEL
    fake.write_bytes(b"not the wheel")
    with pytest.raises(AnalysisError, match="sha256"):
        data._from_wheel(fake, tmp_path)


def test_load_without_data_is_explicit(tmp_path):
    with pytest.raises(AnalysisError, match="astroflow data fetch icecube"):
        data.load("3year", dest=tmp_path, fetch_missing=False)
    with pytest.raises(AnalysisError, match="unknown data release"):
        data.load("7year", dest=tmp_path)


def test_default_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(tmp_path))
    assert data.default_dir() == tmp_path / "icecube"
