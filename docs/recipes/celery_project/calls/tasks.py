from celery import shared_task

from calls.models import Call
from sayna import LiveKitConfig, STTConfig, STTResultEvent, TTSConfig
from sayna.contrib.celery import SessionInterrupted, session

STT = STTConfig(provider="deepgram", model="nova-3")
TTS = TTSConfig(provider="deepgram", model="aura-2", voice_id="aura-asteria-en")
GREETING = "Thanks for calling. How can I help you today?"


@shared_task(soft_time_limit=30 * 60)  # no call holds a worker process longer
def answer_call(call_id):
    call = Call.objects.get(pk=call_id)
    heard = []
    try:
        # The agent joins the caller's LiveKit room; the caller's audio reaches
        # speech-to-text inside Sayna, so this task only reads transcripts.
        with session(
            stt_config=STT,
            tts_config=TTS,
            livekit_config=LiveKitConfig(room_name=call.room),
        ) as live:
            Call.objects.filter(pk=call_id).update(status=Call.ANSWERED)
            live.speak(GREETING)
            for event in live.events():
                if isinstance(event, STTResultEvent) and event.is_final and event.transcript:
                    heard.append(event.transcript)
        # The loop ends when the caller hangs up (Sayna ends the session).
    except SessionInterrupted:
        # Cut short by the time limit or a worker shutdown. Closing the session
        # deleted the room and so ended the call: keep what was heard, marked
        # as such, and let the task fail. Retrying would join an empty room.
        Call.objects.filter(pk=call_id).update(status=Call.INTERRUPTED, transcript=" ".join(heard))
        raise
    Call.objects.filter(pk=call_id).update(status=Call.DONE, transcript=" ".join(heard))
