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
# sayna.contrib.celery connects to Celery's signals at import; its pages need
# nothing else from Celery, so a docs host does not install it.
autodoc_mock_imports = ["celery"]
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
    ("py:class", r"(collections\.abc|os|pathlib|typing|threading|queue)\.\w+(\[.*\])?"),
    ("py:class", r"(requests|django|flask|werkzeug|websocket)(\.\w+)+"),
    ("py:class", r"WSGIEnvironment|WSGIApplication|StartResponse"),
    # Private names that appear in public signatures: sayna.contrib.wsgi's
    # handler type and Session.on's type variable.
    ("py:class", r"Handler|sayna\._realtime\.callbacks\.H"),
]

# Session, EventIterator and FakeSession are built by the library, not by users; their
# constructors take private objects. api.rst gives them an empty signature; this
# drops the constructor's parameter types that autodoc would list anyway.
_LIBRARY_BUILT = (
    "sayna.Session",
    "sayna.EventIterator",
    "sayna.testing.FakeSession",
    "sayna.testing.Caller",
)


def _drop_constructor_types(app, domain, objtype, contentnode):
    document = getattr(app.env, "current_document", None)
    annotations = getattr(document, "autodoc_annotations", None)
    if annotations is None:  # Sphinx < 9 keeps them in temp_data
        annotations = app.env.temp_data.get("annotations", {})
    for name in _LIBRARY_BUILT:
        annotations.pop(name, None)


def setup(app):
    # Priority below the default 500: runs before autodoc merges the types.
    app.connect("object-description-transform", _drop_constructor_types, priority=450)
