# One image for every Python role of compose.yaml (mesh, daphne, celery worker and beat, migrate).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY meshcore meshcore
COPY dashboard dashboard
COPY templates templates
COPY static static
COPY manage.py ./
# Editable, so the dashboard finds templates/ and static/ next to its package.
RUN pip install --no-cache-dir -c constraints.txt -e . \
 # xds-protos overwrites opentelemetry-proto's files; restore them (see Makefile).
 && pip install --no-cache-dir --force-reinstall --no-deps -c constraints.txt opentelemetry-proto
ENV PYTHONUNBUFFERED=1
EXPOSE 8000 8080
CMD ["meshcore", "up", "--gateway-address", "0.0.0.0"]
