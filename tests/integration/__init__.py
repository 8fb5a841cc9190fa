"""Integration tests: real gunicorn, Celery worker/beat, PostgreSQL and Redis processes."""
