# The replyx backend: `replyx serve` on port 8000. deploy/docker-compose.yml runs two of them
# behind nginx with PostgreSQL and Redis (docs/deployment.md).

FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/run.txt ./requirements/run.txt
COPY replyx ./replyx
# Wheels for replyx and every dependency at the exact versions of the lock (make lock), so the image
# installs what `make run` installs, and the runtime image needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements/run.txt \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REPLYX_DATA_DIR=/data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --create-home --home-dir /data replyx
USER replyx
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
# All interfaces of the container, so nginx reaches it on the compose network; compose
# publishes nginx's port only.
CMD ["replyx", "serve", "--host", "0.0.0.0", "--port", "8000"]
