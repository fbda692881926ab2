"""The one place where attrs models meet the wire.

Two converters share one configuration: the lenient one (production) ignores
keys it does not know, because the server may add fields; the strict one
(tests over recorded vectors) rejects them, so schema drift fails a test
instead of a user. Absent optional fields (``None`` defaults) are omitted on
the wire, as the server treats ``null`` and absent alike.

Models register hooks here, never on themselves: see ``register`` below.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from sayna import _models as m

__all__ = ["converter", "from_wire", "register", "strict_converter", "to_wire"]

T = TypeVar("T")

_Hook = Callable[[cattrs.Converter], None]


def _structure_base64(value: Any, _: type) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None


def _unstructure_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_int(value: Any, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _structure_float(value: Any, _: type) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _make(*, strict: bool) -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=strict)
    # cattrs coerces primitives by calling the type (bool("false") is True,
    # str(5) is "5"); a wrong JSON type from the server must fail instead.
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    # The wire carries binary payloads as standard base64 (loading audio,
    # undecodable data packets); cattrs' own bytes handling would not.
    conv.register_structure_hook(bytes, _structure_base64)
    conv.register_unstructure_hook(bytes, _unstructure_base64)
    return conv


converter = _make(strict=False)
strict_converter = _make(strict=True)


def register(hook: _Hook) -> _Hook:
    """Apply ``hook`` to both converters (usable as a decorator).

    Hand-built hooks do not inherit ``omit_if_default``; a hook that builds
    attrs hooks must pass it explicitly.
    """
    hook(converter)
    hook(strict_converter)
    return hook


def to_wire(obj: Any) -> Any:
    """Unstructure a model (or a container of models) into JSON-ready data."""
    return converter.unstructure(obj)


def from_wire(data: Any, cls: type[T], *, strict: bool = False) -> T:
    """Structure JSON data into ``cls``; ``strict`` rejects unknown keys."""
    return (strict_converter if strict else converter).structure(data, cls)


# --- hooks for sayna._models ----------------------------------------------------


def _structure_auth(value: Any, _: Any) -> Any:
    # Without the outer provider the credential model cannot be chosen, so
    # decoded credentials stay a plain dict (what the models accept too).
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected an auth object, got {type(value).__name__}")
    return dict(value)


def _structure_google_credentials(value: Any, _: Any) -> Any:
    if not isinstance(value, (str, dict)):
        raise TypeError(f"expected a string or an object, got {type(value).__name__}")
    return value


# ``extra`` is never a wire key itself: its entries join the model's own
# (a clash was refused when the model was built, so known fields stay ours).
_OMIT = override(omit=True)
_PLAIN_EXTRA_MODELS = (
    m.LiveKitConfig,
    m.LoadingAudioConfig,
    m.VADConfigUpdate,
    m.TurnDetectConfigUpdate,
    m.SipHook,
    m.SIPCallConfig,
)


def _with_extra_unstructure(
    cls: type, conv: cattrs.Converter, **overrides: Any
) -> Callable[[Any], dict[str, Any]]:
    """cattrs' unstructure hook for ``cls``, then the model's ``extra`` entries added."""
    base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, conv, **overrides)

    def unstructure(obj: Any) -> dict[str, Any]:
        data = base(obj)
        for key, value in obj.extra.items():
            data.setdefault(key, value)
        return data

    return unstructure


def _when_first_used(
    register_factory: Callable[..., Any], cls: type, make: Callable[[], Any]
) -> None:
    """Register ``make()`` as ``cls``'s hook, built when ``cls`` is first (un)structured.

    cattrs compiles each generated hook; the 36 of these two converters took
    about 35 ms of ``import sayna`` when built eagerly, most of them for
    models a given program never sends or receives.
    """
    register_factory(lambda t: t is cls, lambda _t: make())


@register
def _model_hooks(conv: cattrs.Converter) -> None:
    def unstructure_auth(value: Any) -> Any:
        if isinstance(value, dict):
            return dict(value)
        return conv.unstructure(value)

    unstructure_hook = conv.register_unstructure_hook_factory
    structure_hook = conv.register_structure_hook_factory
    auth_override = override(
        omit_if_default=True, struct_hook=_structure_auth, unstruct_hook=unstructure_auth
    )
    # The server requires every STT field but auth, so defaults are sent too.
    for cls, omit_defaults in ((m.STTConfig, False), (m.TTSConfig, True)):
        _when_first_used(
            unstructure_hook,
            cls,
            partial(
                _with_extra_unstructure,
                cls,
                conv,
                _cattrs_omit_if_default=omit_defaults,
                auth=auth_override,
                extra=_OMIT,
            ),
        )
        _when_first_used(
            structure_hook,
            cls,
            partial(make_dict_structure_fn, cls, conv, auth=auth_override, extra=_OMIT),
        )
    for model in _PLAIN_EXTRA_MODELS:
        _when_first_used(
            unstructure_hook,
            model,
            partial(
                _with_extra_unstructure, model, conv, _cattrs_omit_if_default=True, extra=_OMIT
            ),
        )
        _when_first_used(
            structure_hook, model, partial(make_dict_structure_fn, model, conv, extra=_OMIT)
        )
    credentials = override(
        struct_hook=_structure_google_credentials, unstruct_hook=unstructure_auth
    )
    _when_first_used(
        structure_hook,
        m.GoogleAuth,
        partial(make_dict_structure_fn, m.GoogleAuth, conv, credentials=credentials),
    )
    _when_first_used(
        unstructure_hook,
        m.GoogleAuth,
        partial(
            make_dict_unstructure_fn,
            m.GoogleAuth,
            conv,
            _cattrs_omit_if_default=True,
            credentials=credentials,
        ),
    )
