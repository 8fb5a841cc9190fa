"""Queue adapter: the Celery app and thin tasks (ids in, call core, done).
Imports core/ and models/, never api/."""
