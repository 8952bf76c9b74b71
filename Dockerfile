# syntax=docker/dockerfile:1
# The gateway image (Railway; also docker-compose.yml). Build from the repository root:
#
#   docker build -t sealpay-gateway .
#
# Multi-stage: the build stage installs the pinned wheels (constraints.txt) into a
# virtualenv, the runtime stage copies only that virtualenv and runs as a non-root user.
# Railway injects PORT; the entrypoint (infra/railway/gateway-entrypoint.sh) listens on it,
# and writes PEM-valued PAYMENT_TEE_CA / PAYMENT_TEE_CLIENT_CERT / PAYMENT_TEE_CLIENT_KEY
# variables to private files, since Railway variables are strings, not files.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY sdk/pyproject.toml ./sdk/pyproject.toml
COPY sdk/sealpay ./sdk/sealpay
RUN pip wheel --wheel-dir /wheels -c constraints.txt . ./sdk \
    && python -m venv /opt/sealpay \
    && /opt/sealpay/bin/pip install --no-index --find-links /wheels -c constraints.txt \
        sealpay-services sealpay

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 sealpay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin sealpay
COPY --from=build /opt/sealpay /opt/sealpay
COPY infra/railway/gateway-entrypoint.sh /usr/local/bin/gateway-entrypoint.sh
ENV PATH=/opt/sealpay/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SEALPAY_ENV=production \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
USER 10001:10001
WORKDIR /opt/sealpay
EXPOSE 8000
ENTRYPOINT ["/bin/sh", "/usr/local/bin/gateway-entrypoint.sh"]
CMD ["python", "-m", "services.gateway"]
