# syntax=docker/dockerfile:1
# One image for the four services: `docker run IMAGE gateway|cache|analysis|monitor`.
#
# Build stage: resolve and install every dependency into a virtualenv, compile bytecode
# (the running pods have a read-only root filesystem, so nothing can be compiled later).
# Final stage: the same pinned base, the virtualenv and the code, no compilers, non-root.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers only here, for any dependency that ships no wheel for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY services/__init__.py services/__init__.py
RUN pip install --no-compile .  && pip uninstall -y oppsuite
COPY services ./services
RUN pip install --no-compile --no-deps . \
 && python -m compileall -q /opt/venv/lib/python3.11/site-packages

FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric uid/gid, so `runAsNonRoot` can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 oppsuite \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin oppsuite
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    OPPSUITE_DATA_DIR=/data \
    GATEWAY_HOST=0.0.0.0 \
    CACHE_HOST=0.0.0.0 \
    ANALYSIS_HOST=0.0.0.0 \
    MONITOR_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
EXPOSE 50051 50052 50053 50054 9101 9102 9103 9104
# Exec form: the Python process is PID 1 and receives SIGTERM itself, which starts the drain.
ENTRYPOINT ["python", "-m", "services.ops.serve"]
CMD ["gateway"]
