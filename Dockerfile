# One image for Outbound's API and its workers; docker-compose.yml picks the command.
#   API (default): uvicorn outbound.api.app:create_app --factory --host 0.0.0.0 --port 8000
#   worker:        python -m outbound.worker
# Configuration comes only from OUTBOUND_* variables (outbound/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY outbound ./outbound
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 --user-group outbound \
    && mkdir -p /app/var \
    && chown outbound:outbound /app/var

USER outbound

EXPOSE 8000
CMD ["uvicorn", "outbound.api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
