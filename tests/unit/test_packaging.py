"""What a non-editable `pip install .` (what a user gets) ships: every data file our packages
read at run time must be listed in `[tool.setuptools.package-data]`, or the install silently
lacks it (the default message templates, the migrations)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_data_file_of_our_packages_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    data = setuptools.get("package-data", {})
    missing = []
    for package in packages:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package).as_posix()
            if not any(fnmatch.fnmatch(relative, glob) for glob in data.get(package, [])):
                missing.append(f"{package}/{relative}")
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_the_default_templates_are_found_as_package_resources() -> None:
    from importlib import resources

    folder = resources.files("notifications").joinpath("default_templates")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))
    assert names == ["answers.toml", "customer.toml", "fieldworker.toml", "staff.toml"]
