# Outbound's API and worker share this image; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY outbound ./outbound
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 outbound
USER outbound

EXPOSE 8000
CMD ["uvicorn", "outbound.api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
