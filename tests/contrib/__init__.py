"""The framework adapters in sayna.contrib (Django, Flask, WSGI, Celery)."""
