"""The architecture as a test: which package may import which (README "Architecture").

The core decides and imports nothing outward; storage (`models`) and the outbound side
(`notifications`) implement what the core needs; the adapters translate and never import each
other; `bot` alone wires them together. A violation names the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {
    "dispatch",
    "models",
    "notifications",
    "handlers",
    "admin_commands",
    "rest",
    "emulators",
    "bot",
}
CORE_FORBIDDEN_LIBRARIES = {"telegram", "twilio", "aiohttp", "tortoise", "jinja2", "apscheduler"}
ALLOWED = {
    "dispatch": {"dispatch"},
    "models": {"dispatch", "models"},
    "notifications": {"dispatch", "models", "notifications"},
    "handlers": {"dispatch", "models", "notifications", "handlers"},
    "admin_commands": {"dispatch", "models", "notifications", "admin_commands"},
    "rest": {"dispatch", "models", "notifications", "rest"},
    "emulators": {"emulators"},
    "bot": OURS,
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in OURS and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if package == "dispatch" and top in CORE_FORBIDDEN_LIBRARIES:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} (the core does no I/O)")
    assert not wrong, "\n".join(wrong)


def test_no_source_file_is_too_long() -> None:
    """A file past 400 lines hides its shape; generated migrations are the exception."""
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for package in sorted(OURS)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    ]
    assert not long, "\n".join(long)
