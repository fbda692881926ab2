""".ci/pythons finds every Python that setup.cfg claims, or fails saying which one is missing."""

from __future__ import annotations

import configparser
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "pythons"
RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"


def claimed_versions() -> list[str]:
    """The 3.X classifiers of setup.cfg, in order."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return re.findall(
        r"Programming Language :: Python :: (3\.\d+)$", config["metadata"]["classifiers"], re.M
    )


def run_find(tmp_path: pathlib.Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``.ci/pythons --find`` with only bash's tools and this Python (as python3) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sed", "grep", "ls", "sort", "dirname"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    base = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    return subprocess.run(
        ["bash", str(SCRIPT), "--find"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_claims_are_3_10_to_3_13() -> None:
    """The classifiers, python_requires and the README name the same four versions."""
    assert claimed_versions() == ["3.10", "3.11", "3.12", "3.13"]
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    assert config["options"]["python_requires"] == ">=3.10"
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert "Python 3.10, 3.11, 3.12 and 3.13" in readme


def test_a_missing_python_fails_before_anything_is_installed(tmp_path: pathlib.Path) -> None:
    """With no pyenv and no python3.X on PATH, the first other claimed version is named."""
    result = run_find(tmp_path)
    first_other = next(v for v in claimed_versions() if v != RUNNING)
    assert result.returncode == 1
    assert f"Python {first_other} is claimed in setup.cfg but was not found" in result.stderr
    assert f"pyenv install {first_other}" in result.stderr
    assert not (tmp_path / ".cache").exists()  # no wheelhouse was made


def test_an_interpreter_of_the_wrong_version_is_refused(tmp_path: pathlib.Path) -> None:
    """An override pointing at another version is refused with both versions named."""
    other = next(v for v in claimed_versions() if v != RUNNING)
    result = run_find(tmp_path, **{f"SAYNA_CI_PYTHON_{other.replace('.', '_')}": sys.executable})
    assert result.returncode == 1
    assert f"Python {other} is claimed in setup.cfg but {sys.executable} is Python {RUNNING}" in (
        result.stderr
    )


def test_pyenv_versions_are_found_newest_patch_first(tmp_path: pathlib.Path) -> None:
    """Under PYENV_ROOT, 3.X.13 wins over 3.X.9, and --find lists every claimed version."""
    pyenv = tmp_path / "pyenv" / "versions"
    others = [v for v in claimed_versions() if v != RUNNING]
    for version in others:
        for patch in ("9", "13"):
            bin_dir = pyenv / f"{version}.{patch}" / "bin"
            bin_dir.mkdir(parents=True)
            # A stand-in that reports the version it is named after.
            stub = bin_dir / f"python{version}"
            stub.write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
            stub.chmod(0o755)
    result = run_find(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{RUNNING}: ")
    assert lines[1:] == [f"{v}: {pyenv}/{v}.13/bin/python{v}" for v in others]
