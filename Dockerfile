# Replyguard image: one image for every role; docker-compose.yml picks the command
# (api by default, `replyguard migrate`, the Celery worker, Celery beat).
#
# No secrets here or in the build context (.dockerignore keeps .env and instance/ out):
# configuration comes from REPLYGUARD_* variables at run time.
# No HEALTHCHECK here: it would apply to the worker and beat, which serve no HTTP;
# docker-compose.yml defines the API's.

# --- build: install the package and its runtime dependencies into a virtualenv -------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/replyguard
WORKDIR /src
COPY . .
# Runtime dependencies only: no [dev] extra.
RUN /opt/replyguard/bin/pip install .

# --- runtime: the virtualenv and nothing else (no sources, no build tools) -----------
FROM python:3.11-slim

ENV PATH=/opt/replyguard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 replyguard \
    && useradd --system --uid 10001 --gid replyguard --home-dir /home/replyguard \
       --create-home --shell /usr/sbin/nologin replyguard

COPY --from=build /opt/replyguard /opt/replyguard

USER replyguard:replyguard
WORKDIR /home/replyguard
EXPOSE 8000

# The API; api/gunicorn_conf.py keeps client addresses out of the access log.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", \
     "--config", "python:api.gunicorn_conf", "api:create_app()"]
