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

# The build runs offline (no intersphinx), so references to the standard
# library and to third-party classes in signatures cannot resolve. They are
# listed here instead of dropping -n, which still catches every broken
# reference to sayna's own names.
nitpick_ignore_regex = [
    ("py:class", r"(collections\.abc|os|pathlib|typing|threading|queue)\.\w+"),
    ("py:class", r"(requests|django|flask|werkzeug|websocket)(\.\w+)+"),
    ("py:class", r"WSGIEnvironment|WSGIApplication|StartResponse"),
    # sayna.contrib.wsgi's private alias for handler callables.
    ("py:class", r"Handler"),
]
