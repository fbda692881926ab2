"""Thin, optional adapters for frameworks: webhooks in web apps, sessions in Celery.

Each submodule imports its framework only when you import it. Three serve
Sayna's SIP webhooks: ``sayna.contrib.django``, ``sayna.contrib.flask`` and
``sayna.contrib.wsgi`` (no framework at all). ``sayna.contrib.celery`` holds
realtime sessions in Celery tasks.

The webhook adapters share one set of rules: ``POST`` only (405 otherwise),
the raw body verified by :class:`~sayna.WebhookReceiver`, 401 for a request
that cannot be proven to come from Sayna, 400 for signed content of the wrong
shape, 413 for an oversized body, and 204 when your handler returns
``None``. Rejections are logged on the ``sayna.webhooks`` logger.
"""
