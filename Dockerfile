# meshui: one image for the web (daphne), the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MESHUI_DATA_DIR=/var/lib/meshui

WORKDIR /app

# Dependencies first so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY meshui/__init__.py meshui/__init__.py
COPY accounts/__init__.py accounts/__init__.py
COPY topology/__init__.py topology/__init__.py
COPY metrics/__init__.py metrics/__init__.py
COPY traces/__init__.py traces/__init__.py
RUN pip install .

COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/meshui --create-home meshui \
    # collectstatic reads settings; a throwaway key lets it run without the real one.
    && MESHUI_SECRET_KEY=collectstatic-only-key-not-used-at-run-time-000000 python manage.py collectstatic --noinput \
    && chown -R meshui /var/lib/meshui

USER meshui
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "meshui.asgi:application"]
