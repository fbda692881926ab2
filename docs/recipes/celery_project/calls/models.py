from django.db import models


class Call(models.Model):
    """One inbound phone call and what the caller said."""

    RINGING, ANSWERED, DONE, INTERRUPTED = "ringing", "answered", "done", "interrupted"

    # Sayna may deliver the same webhook twice: its event id makes the row unique.
    event_id = models.CharField(max_length=100, unique=True)
    room = models.CharField(max_length=200, db_index=True)
    caller = models.CharField(max_length=32)
    status = models.CharField(max_length=20, default=RINGING)
    transcript = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
