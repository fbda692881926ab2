from django.http import Http404, JsonResponse

from calls.models import Call
from calls.tasks import answer_call
from sayna.contrib.django import sayna_webhook


@sayna_webhook  # verified with SAYNA_WEBHOOK_SECRET; 401 for anything unsigned
def incoming_call(request, call):
    record, created = Call.objects.get_or_create(
        event_id=call.event_id,
        defaults={"room": call.room.name, "caller": call.from_phone_number},
    )
    if created:  # a repeated delivery of the same event starts nothing
        # Sayna waits at most a few seconds for this answer: the call itself
        # lasts minutes, so a worker takes it.
        answer_call.delay(record.pk)
    # Returning nothing answers 204 No Content.


def call_transcript(request, room):
    record = Call.objects.filter(room=room).order_by("-created").first()
    if record is None:
        raise Http404("no call in this room")
    return JsonResponse(
        {
            "room": record.room,
            "caller": record.caller,
            "status": record.status,
            "transcript": record.transcript,
        }
    )
