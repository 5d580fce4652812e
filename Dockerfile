# The service for the GPU VM. Python 3.11 as in development; CUDA comes with the torch wheels from
# PyPI (they bundle the CUDA runtime; the host's driver is provided by the NVIDIA container toolkit),
# so no CUDA base image is needed. Model weights are never baked in: mount them at /models.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/ultralytics HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 fonts-nanum curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Same command and settings as the tests and the demo: every setting is an environment variable
# (see .env.example).
ENV HOST=0.0.0.0 PORT=8000 ASSETS_DIR=/data/assets
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["sh", "-c", "exec uvicorn main:app --host $HOST --port $PORT"]
