"""Sphinx configuration for the sayna documentation."""

from __future__ import annotations

import sayna

project = "sayna"
author = "The sayna developers"
copyright = "2026, The sayna developers"
release = sayna.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_title = f"sayna {release}"
nitpicky = True
exclude_patterns = ["_build"]
