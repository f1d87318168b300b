# syntax=docker/dockerfile:1
# One image for every FountainAI service. docker-compose.yml picks what each container runs
# (`fountain serve <name>`, `fountain db upgrade`, `fountain gateway render`); on its own the image
# serves the service named by FOUNTAIN_SERVICE, checking the API keys of GATEWAY_CONSUMERS itself
# (compose runs it --behind-gateway instead, Kong checking them):
#   docker run -e FOUNTAIN_SERVICE=character -e FOUNTAIN_DATABASE_URL=postgresql://... \
#     -e GATEWAY_CONSUMERS=ci:writer:<key> fountainai
# Migrations never run at build time: the compose service `migrate` applies them before the APIs start.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The uv release the Makefile uses, so the image installs exactly what uv.lock pins.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check uv==${UV_VERSION}
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY fountain_common fountain_common
COPY fountain_cli fountain_cli
COPY services services
COPY specs specs
COPY kong kong
RUN uv sync --frozen --no-dev

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 fountain \
    && useradd --system --uid 10001 --gid fountain --home-dir /app --no-create-home --shell /usr/sbin/nologin fountain \
    && mkdir -p /kong/declarative /backups \
    && chown fountain:fountain /kong/declarative /backups
# Code and dependencies belong to root: the service user can read them, not change them.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER fountain
EXPOSE 8101 8102 8103 8104 8105
CMD ["sh", "-c", "exec fountain serve \"${FOUNTAIN_SERVICE:?set FOUNTAIN_SERVICE to a service name, e.g. character}\" --host 0.0.0.0 --no-migrate"]
