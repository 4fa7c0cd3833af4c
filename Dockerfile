# AISX, the AI Security Exchange: TAXII 2.1 server.
#   docker build -t aisx .
#   docker run -p 6100:6100 -v aisx-data:/data aisx      # first start prints the operator 'admin' key
# The SQLite database lives in /data (a volume); set AISX_DATABASE_URL for PostgreSQL.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY schemas ./schemas
COPY feeds ./feeds
COPY app ./app
# A regular (non-editable) wheel: hatch maps alembic/ into it as app/migrations.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 aisx \
    && useradd --system --uid 10001 --gid aisx --home-dir /data --no-create-home --shell /usr/sbin/nologin aisx \
    && mkdir -p /data /opt/aisx \
    && chown aisx:aisx /data
COPY feeds /opt/aisx/feeds

# Listen on every interface inside the container only; outside it the default stays 127.0.0.1.
ENV AISX_HOST=0.0.0.0 \
    AISX_PORT=6100 \
    AISX_FEEDS_DIR=/opt/aisx/feeds
WORKDIR /data
VOLUME ["/data"]
USER aisx
EXPOSE 6100

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AISX_PORT', '6100'), timeout=4)" || exit 1

ENTRYPOINT ["aisx", "serve"]
CMD []
