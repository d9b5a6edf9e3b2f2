"""Environment keys: one environment per requirement set, however it is spelled.

On main before this change ``numpy>=1`` and ``numpy >= 1`` gave two keys (two builds)."""

from __future__ import annotations

from astroflow.registry.environments import environment_key, requirements_of


def test_spellings_of_one_requirement_share_a_key():
    assert environment_key(("numpy>=1",)) == environment_key(("numpy >= 1",))
    assert environment_key(("NumPy>=1", "astropy")) == environment_key(("astropy", "numpy>=1"))
    assert environment_key(("scipy<2,>=1",)) == environment_key(("scipy >=1 , <2",))
    assert environment_key(("foo_bar[b,a]>=1",)) == environment_key(("Foo.Bar[a,b] >= 1",))


def test_different_requirements_keep_different_keys():
    assert environment_key(("numpy>=1",)) != environment_key(("numpy>=2",))
    assert environment_key(("numpy",)) != environment_key(("numpy", "scipy"))


def test_repository_requirements_are_canonical(tmp_path):
    (tmp_path / "requirements.txt").write_text("NumPy >= 1  # arrays\nastropy\n-e ./local\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["numpy>=1"]\n')
    assert requirements_of(tmp_path) == ("-e ./local", "astropy", "numpy>=1")
