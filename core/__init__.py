"""The domain: everything that decides.

Imports models/ and plain libraries, never Flask or Celery.
"""
