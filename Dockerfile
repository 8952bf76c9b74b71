# The gateway image (Railway). Multi-stage: build wheels, run as non-root.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY sdk ./sdk
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt . ./sdk

FROM python:3.11-slim
RUN useradd --system --uid 10001 sealpay
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt sealpay-services sealpay \
    && rm -rf /wheels
USER sealpay
ENV SEALPAY_ENV=production GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]
