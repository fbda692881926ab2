"""Names of the async SDK (sayna-client 0.0.18) that are spelled differently here.

Code ported from the async SDK reaches for these names first; a bare
``AttributeError`` would send the reader to the docs, so each one fails with
an error that names what to use instead. Nothing here is an alias: the old
names stay errors, so there is only one spelling to read in ported code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CLIENT_METHODS",
    "MODULE_NAMES",
    "SESSION_METHODS",
    "RenamedAttributeError",
    "missing_attribute",
    "missing_module_name",
    "refuse_renamed_keywords",
]

_SDK = "sayna-client"


class RenamedAttributeError(AttributeError):
    """A name of the async SDK that ``sayna`` spells differently.

    An :class:`AttributeError` (so ``hasattr`` and ``getattr(obj, name,
    default)`` behave as for any missing name) whose message names the
    replacement; ``old`` and ``new`` hold both spellings.
    """

    def __init__(self, message: str, *, old: str, new: str, obj: object = None) -> None:
        super().__init__(message, name=old, obj=obj)
        self.old = old
        self.new = new


#: ``SaynaClient`` methods that live on :class:`sayna.Sayna` under another name.
CLIENT_METHODS: Mapping[str, str] = {
    "health_check": "health()",
}

#: ``SaynaClient`` methods that live on :class:`sayna.Session` under another name.
SESSION_METHODS: Mapping[str, str] = {
    "send_speak": "speak()",
    "send_clear": "clear()",
    "register_on_audio": "register_on_tts_audio()",
}

#: Top-level names of ``sayna_client`` with another name in ``sayna``.
MODULE_NAMES: Mapping[str, str] = {
    "SaynaClient": "sayna.Sayna (then client.connect(stt_config=..., tts_config=...))",
    "SipCallSipConfig": "sayna.SIPCallConfig",
    "SipCallRequest": "sayna.Sayna.sip_call()",
    "SipTransferRequest": "sayna.Sayna.sip_transfer_rest()",
    "ReadyMessage": "sayna.ReadyEvent",
    "STTResultMessage": "sayna.STTResultEvent",
    "MessageMessage": "sayna.MessageEvent",
    "ErrorMessage": "sayna.ErrorEvent",
    "ParticipantConnectedMessage": "sayna.ParticipantConnectedEvent",
    "ParticipantDisconnectedMessage": "sayna.ParticipantDisconnectedEvent",
    "TrackSubscribedMessage": "sayna.TrackSubscribedEvent",
    "TTSPlaybackCompleteMessage": "sayna.TTSPlaybackCompleteEvent",
    "SipTransferErrorMessage": "sayna.SIPTransferErrorEvent",
    "MuteLiveKitParticipantResponse": "sayna.MuteParticipantResponse",
    "RemoveLiveKitParticipantResponse": "sayna.RemoveParticipantResponse",
}


def missing_attribute(obj: object, name: str, *, also: Mapping[str, str] | None = None) -> Any:
    """Raise the error for a missing ``name`` of ``obj``: a pointer when it is an old one."""
    owner = type(obj).__name__
    for table, where in ((CLIENT_METHODS, "Sayna"), (SESSION_METHODS, "Session")):
        new = table.get(name)
        if new is None:
            continue
        if where == owner:
            message = f"{owner}.{name}() is the {_SDK} name; use {owner}.{new} instead"
        else:
            # The async SDK had one object; here the REST calls are on the
            # client and the realtime ones on the session connect() returns.
            message = (
                f"{owner} has no {name}(): in {_SDK} it was one object; here it is "
                f"{where}.{new} (a Session comes from Sayna.connect())"
            )
        raise RenamedAttributeError(message, old=name, new=new, obj=obj)
    raise AttributeError(f"{owner!r} object has no attribute {name!r}", name=name, obj=obj)


def missing_module_name(name: str) -> ImportError:
    """The error for ``from sayna import <name>``: a pointer when it is a ``sayna_client`` name.

    An :class:`ImportError`, not an AttributeError: Python turns an
    AttributeError from a module's ``__getattr__`` into a bare "cannot import
    name" during ``from ... import``, dropping the pointer.
    """
    new = MODULE_NAMES[name]
    return ImportError(
        f"sayna.{name} is the {_SDK} name; use {new} instead", name="sayna", path=None
    )


def refuse_renamed_keywords(
    function: str, given: Mapping[str, object], renamed: Mapping[str, str]
) -> None:
    """Raise :class:`TypeError` for keywords of the async SDK that are spelled differently."""
    for old in given:
        new = renamed.get(old)
        if new is not None:
            raise TypeError(f"{function}() got the {_SDK} keyword {old!r}; use {new}= instead")
        raise TypeError(f"{function}() got an unexpected keyword argument {old!r}")
