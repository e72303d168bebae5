"""The codebase keeps its shape: one-way imports, no provider names outside providers/,
no module past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from providers.registry import PROVIDER_TYPES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "providers", "routing", "cache")
# What each package may import from the others (STYLE.md section 1).
ALLOWED = {
    "gateway": {"gateway", "routing", "providers", "cache"},
    "routing": {"routing", "providers"},
    "providers": {"providers"},
    "cache": {"cache", "providers"},
}
MAX_LINES = 600
PROVIDER_NAMES = {
    "openai",
    "azure",
    "anthropic",
    "gemini",
    "mistral",
    "cohere",
    "bedrock",
    *PROVIDER_TYPES,
} - {"mock", "openai-compatible"}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package):
    wrong = {
        str(p.relative_to(ROOT)): sorted(imported_packages(p) - ALLOWED[package])
        for p in sources(package)
    }
    assert {k: v for k, v in wrong.items() if v} == {}


@pytest.mark.parametrize("package", ["gateway", "routing", "cache"])
def test_no_provider_names_outside_providers(package):
    leaks = []
    for path in sources(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lower() in PROVIDER_NAMES
            ):
                leaks.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert leaks == []


def test_no_module_is_longer_than_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for pkg in PACKAGES
        for p in sources(pkg)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_its_public_names(package):
    import importlib

    module = importlib.import_module(package)
    assert isinstance(module.__all__, list)
