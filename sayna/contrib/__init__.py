"""Thin, optional adapters that serve Sayna's SIP webhooks from web frameworks.

Each submodule imports its framework only when you import it:
``sayna.contrib.django``, ``sayna.contrib.flask`` and ``sayna.contrib.wsgi``
(no framework at all). They share one set of rules: ``POST`` only (405
otherwise), the raw body verified by :class:`~sayna.WebhookReceiver`, 401 for a
request that cannot be proven to come from Sayna, 400 for signed content of the
wrong shape, 413 for an oversized body, and 204 when your handler returns
``None``. Rejections are logged on the ``sayna.webhooks`` logger.
"""
