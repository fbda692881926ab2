"""``pip install '.[docs]'`` alone can build the docs.

A docs host installs only the ``docs`` extra, and autodoc imports every module
``docs/api.rst`` documents. Building in a fresh virtual environment takes about
25 s here (install 19 s from a local index, build 5 s), too slow for the
default run; this test checks the same thing from the inside: every
distribution those imports load is one the ``docs`` extra or
``install_requires`` names, or a requirement of one of them.
"""

from __future__ import annotations

import configparser
import json
import pathlib
import re
import runpy
import subprocess
import sys
from importlib import metadata

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _names(requirements: str) -> list[str]:
    found = []
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found.append(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0])
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their requirements (no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a platform-only requirement (colorama)
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.extend(_names(requirement))
    return seen


def _documented_modules() -> list[str]:
    text = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"\.\. (?:auto)?module:: (\S+)", text)) | {"sayna"})


def test_docs_extra_covers_every_import_autodoc_makes() -> None:
    """The modules api.rst documents load only distributions the docs extra brings."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    allowed = _closure(
        _names(config["options"]["install_requires"])
        + _names(config["options.extras_require"]["docs"])
    )
    modules = _documented_modules()
    assert {"sayna.testing", "sayna.contrib.django", "sayna.contrib.flask"} <= set(modules)
    # What docs/conf.py tells autodoc to mock is not imported on a docs host either.
    mocked = runpy.run_path(str(ROOT / "docs" / "conf.py")).get("autodoc_mock_imports", [])
    # Modules the interpreter loaded before (site's .pth hooks) are not autodoc's.
    # opentelemetry is optional (sayna imports nothing of it when it is absent,
    # tests/test_telemetry.py): blocked here as on a docs host without it.
    code = (
        "import importlib, json, sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from sphinx.ext.autodoc.mock import mock\n"
        "before = set(sys.modules)\n"
        f"with mock({mocked!r}):\n"
        f"    for name in {modules!r}:\n"
        "        module = importlib.import_module(name)\n"
        # autodoc reads every documented name, lazy ones (module __getattr__) too.
        "        for attr in getattr(module, '__all__', []): getattr(module, attr)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )
    owners = metadata.packages_distributions()
    needed = {
        _normal(dist)
        for module in loaded
        if module not in sys.stdlib_module_names and module != "sayna"
        for dist in owners.get(module, [])
    }
    assert sorted(needed - allowed) == []
