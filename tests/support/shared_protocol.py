"""The protocol's test data: the wire vectors and the server's OpenAPI schemas.

Both live in the repository, under ``tests/data/protocol/`` (see its NOTICE for
where they come from), so a fresh clone runs every test. A missing folder is an
error, never a skip.
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOCOL_DIR = ROOT / "tests" / "data" / "protocol"
VECTORS_DIR = PROTOCOL_DIR / "vectors"

if not PROTOCOL_DIR.is_dir():
    raise RuntimeError(f"protocol reference missing: expected it at {PROTOCOL_DIR}")


def load_vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, content) of every vector in ``vectors/<kind>/``, sorted by name."""
    folder = VECTORS_DIR / kind
    files = sorted(folder.glob("*.json"))
    if not files:
        raise RuntimeError(f"no vectors found in {folder}")
    return [(f.stem, json.loads(f.read_text(encoding="utf-8"))) for f in files]


@functools.cache
def _openapi() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROTOCOL_DIR / "openapi.yaml").read_text("utf-8"))
    return data


@functools.cache
def openapi_validator(component: str) -> Draft202012Validator:
    """A JSON Schema validator for ``#/components/schemas/<component>``."""
    document = _openapi()
    uri = "urn:sayna:openapi"
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(document, default_specification=_draft())
    )
    schema = {"$ref": f"{uri}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


def _draft() -> Any:
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


def assert_valid(instance: Any, component: str) -> None:
    """Fail with every schema violation listed when ``instance`` does not fit."""
    errors = sorted(openapi_validator(component).iter_errors(instance), key=str)
    assert not errors, f"{component} rejects {instance!r}: " + "; ".join(e.message for e in errors)
