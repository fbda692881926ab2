from celery import shared_task

from calls.models import Call
from sayna import LiveKitConfig, STTConfig, TTSConfig, converse
from sayna.contrib.celery import SessionInterrupted, session

STT = STTConfig(provider="deepgram", model="nova-3")
TTS = TTSConfig(provider="deepgram", model="aura-2", voice_id="aura-asteria-en")
GREETING = "Thanks for calling. How can I help you today?"


@shared_task(soft_time_limit=30 * 60)  # no call holds a worker process longer
def answer_call(call_id):
    call = Call.objects.get(pk=call_id)
    heard = []

    def respond(turn):
        # Your agent's brain goes here (an LLM's streamed answer can be
        # returned as it is); this one acknowledges and keeps listening.
        heard.append(turn.text)
        return "Got it."

    try:
        # The agent joins the caller's LiveKit room; the caller's audio reaches
        # speech-to-text inside Sayna, so this task only hears transcripts.
        with session(
            stt_config=STT,
            tts_config=TTS,
            livekit_config=LiveKitConfig(room_name=call.room),
            barge_in=True,  # the caller talking over the agent stops it
        ) as live:
            Call.objects.filter(pk=call_id).update(status=Call.ANSWERED)
            # Until the caller hangs up (Sayna then ends the session).
            converse(live, respond, greeting=GREETING)
    except SessionInterrupted:
        # Cut short by the time limit or a worker shutdown. Closing the session
        # deleted the room and so ended the call: keep what was heard, marked
        # as such, and let the task fail. Retrying would join an empty room.
        Call.objects.filter(pk=call_id).update(status=Call.INTERRUPTED, transcript=" ".join(heard))
        raise
    Call.objects.filter(pk=call_id).update(status=Call.DONE, transcript=" ".join(heard))
