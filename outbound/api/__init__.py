"""The public REST API (FastAPI); OpenAPI docs at /docs."""
