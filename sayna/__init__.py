"""Blocking Python client for the Sayna voice server.

REST calls, realtime speech sessions and signed webhooks without an event loop.
The implementation lives in private modules; everything public is re-exported
here and listed in ``__all__`` (a test keeps the two in step).
"""

from sayna import _renamed  # the async SDK's names, for errors that name ours
from sayna._audio import AudioResult
from sayna._client import Sayna
from sayna._converse import Conversation, Line, converse
from sayna._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MethodNotAllowedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SaynaAudioError,
    SaynaCallbackError,
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaConnectionError,
    SaynaError,
    SaynaHttpError,
    SaynaNotConnectedError,
    SaynaNotReadyError,
    SaynaProtocolError,
    SaynaServerError,
    SaynaThreadsDisabledError,
    SaynaTimeoutError,
    SaynaValidationError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    WebhookVerificationError,
)
from sayna._events import (
    CallbackErrorEvent,
    CloseEvent,
    DataPacket,
    ErrorEvent,
    Event,
    EventsDiscardedEvent,
    MalformedEvent,
    MessageEvent,
    ParticipantConnectedEvent,
    ParticipantDisconnectedEvent,
    ReadyEvent,
    ReconnectedEvent,
    ReconnectingEvent,
    SessionParticipant,
    SIPTransferErrorEvent,
    SpeechInterruptedEvent,
    STTResultEvent,
    SubscribedTrack,
    TrackSubscribedEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    UnknownEvent,
    VADEvent,
)
from sayna._logsetup import apply_environment as _apply_log_environment
from sayna._models import (
    ApiKeyAuth,
    AzureAuth,
    GoogleAuth,
    HealthResponse,
    LiveKitConfig,
    LiveKitParticipantInfo,
    LiveKitRoomDetails,
    LiveKitRoomsResponse,
    LiveKitRoomSummary,
    LiveKitTokenResponse,
    LoadingAudioConfig,
    MuteParticipantResponse,
    Pronunciation,
    ProviderAuth,
    RemoveParticipantResponse,
    SIPCallConfig,
    SIPCallResponse,
    SipHook,
    SipHooksResponse,
    SIPTransferResponse,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
    VoiceDescriptor,
)
from sayna._realtime.bargein import BargeIn
from sayna._realtime.consumers import EventIterator
from sayna._realtime.reconnect import ReconnectPolicy
from sayna._realtime.session import Session
from sayna._realtime.stats import SessionStats, SpeechTiming
from sayna._renamed import RenamedAttributeError
from sayna._streaming import Reply
from sayna._turns import Turn
from sayna._version import __version__
from sayna._wav import WavAudio, read_wav, write_wav
from sayna._webhooks import (
    WebhookReceiver,
    WebhookSIPOutput,
    WebhookSIPParticipant,
    WebhookSIPRoom,
)

__all__ = [
    "ApiKeyAuth",
    "AudioResult",
    "AuthenticationError",
    "AzureAuth",
    "BadRequestError",
    "BargeIn",
    "CallbackErrorEvent",
    "CloseEvent",
    "ConflictError",
    "Conversation",
    "DataPacket",
    "ErrorEvent",
    "Event",
    "EventIterator",
    "EventsDiscardedEvent",
    "GoogleAuth",
    "HealthResponse",
    "Line",
    "LiveKitConfig",
    "LiveKitParticipantInfo",
    "LiveKitRoomDetails",
    "LiveKitRoomSummary",
    "LiveKitRoomsResponse",
    "LiveKitTokenResponse",
    "LoadingAudioConfig",
    "MalformedEvent",
    "MessageEvent",
    "MethodNotAllowedError",
    "MuteParticipantResponse",
    "NotFoundError",
    "ParticipantConnectedEvent",
    "ParticipantDisconnectedEvent",
    "PermissionDeniedError",
    "Pronunciation",
    "ProviderAuth",
    "RateLimitError",
    "ReadyEvent",
    "ReconnectPolicy",
    "ReconnectedEvent",
    "ReconnectingEvent",
    "RemoveParticipantResponse",
    "RenamedAttributeError",
    "Reply",
    "SIPCallConfig",
    "SIPCallResponse",
    "SIPTransferErrorEvent",
    "SIPTransferResponse",
    "STTConfig",
    "STTResultEvent",
    "Sayna",
    "SaynaAudioError",
    "SaynaCallbackError",
    "SaynaConfigError",
    "SaynaConnectionClosedError",
    "SaynaConnectionError",
    "SaynaError",
    "SaynaHttpError",
    "SaynaNotConnectedError",
    "SaynaNotReadyError",
    "SaynaProtocolError",
    "SaynaServerError",
    "SaynaThreadsDisabledError",
    "SaynaTimeoutError",
    "SaynaValidationError",
    "Session",
    "SessionParticipant",
    "SessionStats",
    "SipHook",
    "SipHooksResponse",
    "SpeechInterruptedEvent",
    "SpeechTiming",
    "SubscribedTrack",
    "TTSAudioEvent",
    "TTSConfig",
    "TTSPlaybackCompleteEvent",
    "TrackSubscribedEvent",
    "Turn",
    "TurnDetectConfigUpdate",
    "UnknownEvent",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "VADConfigUpdate",
    "VADEvent",
    "VoiceDescriptor",
    "WavAudio",
    "WebhookReceiver",
    "WebhookSIPOutput",
    "WebhookSIPParticipant",
    "WebhookSIPRoom",
    "WebhookVerificationError",
    "__version__",
    "converse",
    "read_wav",
    "write_wav",
]

# The spellings before 0.2 (SIP is spelled in capitals in our own names, as STT
# and TTS are; the async SDK's own names such as SipHook keep theirs).
_OLD_SPELLINGS = {
    "SipCallConfig": "SIPCallConfig",
    "SipCallResponse": "SIPCallResponse",
    "SipTransferResponse": "SIPTransferResponse",
}


def __getattr__(name: str) -> object:
    new = _OLD_SPELLINGS.get(name)
    if new is None and name in _renamed.MODULE_NAMES:
        raise _renamed.missing_module_name(name)
    if new is None:
        raise AttributeError(f"module 'sayna' has no attribute {name!r}")
    import warnings

    warnings.warn(f"sayna.{name} is now sayna.{new}", DeprecationWarning, stacklevel=2)
    return globals()[new]


# SAYNA_LOG, read once, when sayna is first imported (docs/logging.rst).
_apply_log_environment()
