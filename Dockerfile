# The service for the GPU VM. Model weights are never baked in: mount them at /models.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/ultralytics HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3-pip libgl1 libglib2.0-0 fonts-nanum curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python3.11 -m venv /venv
ENV PATH=/venv/bin:$PATH
COPY requirements.txt .
RUN pip install --upgrade pip && pip install -r requirements.txt
COPY . .
# Same settings as the tests and the demo: every one is an environment variable (see .env.example).
ENV HOST=0.0.0.0 PORT=8000 ASSETS_DIR=/data/assets
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["sh", "-c", "uvicorn main:app --host $HOST --port $PORT"]
