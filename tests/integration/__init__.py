"""Real processes: a Redis broker, Celery workers, gunicorn."""
