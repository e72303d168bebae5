FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY providers ./providers
COPY routing ./routing
COPY cache ./cache
RUN pip install . && useradd --create-home --uid 10001 arbiter
COPY config.example.yaml /etc/arbiter/config.yaml
USER arbiter
EXPOSE 8080
ENV ARBITER_CONFIG=/etc/arbiter/config.yaml
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=2).status == 200 else 1)"
CMD ["arbiter", "serve", "--host", "0.0.0.0", "--port", "8080"]
