# The service for the GPU VM. Python 3.11 as in development; CUDA comes with the torch wheels from
# PyPI (cu130: they bundle the CUDA 13 runtime and need an R580+ host driver, provided to the container
# by the NVIDIA container toolkit), so no CUDA base image is needed. Model weights are never baked in:
# they are mounted at /models (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/ultralytics MPLCONFIGDIR=/tmp/matplotlib \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# curl: the HEALTHCHECK. tini as PID 1: forwards SIGTERM to the app (the drain) and reaps the model
# worker processes. No GUI libraries (libgl1) and no system fonts: OpenCV is the headless build and
# the overlay font (Noto Sans KR) comes from the pylopdf-fonts-ko package.
RUN apt-get update && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Scripts (python scripts/x.py) import the app's packages from here, as the .venv's .pth does locally.
ENV PYTHONPATH=/app
COPY requirements.txt .
# ultralytics requires the GUI build `opencv-python` (needs libGL) beside our headless one; both wheels
# write the same cv2/ package, so remove the GUI one and reinstall the headless one's files. The
# import check fails the build if cv2 would need a library the image does not have.
RUN pip install -r requirements.txt \
    && pip install --no-deps $(sed -n 's/^# no-deps: //p' requirements.txt) \
    && pip uninstall -y opencv-python \
    && pip install --no-deps --force-reinstall "$(grep -i '^opencv-python-headless==' requirements.txt)" \
    && python -c "import cv2, ultralytics, easyocr; print('cv2', cv2.__version__, 'ultralytics', ultralytics.__version__)" \
    && ! pip show -q opencv-python 2>/dev/null
# An unprivileged user: it can write only the assets volume (and its home and /tmp), not the code.
# (The import check above left root-owned settings and caches in /tmp: the user writes its own.)
RUN rm -rf /tmp/ultralytics /tmp/matplotlib /tmp/torchinductor_root \
    && useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /data/assets /models && chown app:app /data/assets
COPY . .
# The OCR model exported to ONNX once, at build time (torch in a child process), where the app finds it.
ENV XDG_CACHE_HOME=/opt/cache
RUN python -c "from services.imaging.ocr import OcrReader; print(OcrReader().name)" \
    && chown -R app:app /opt/cache
USER app
# Inside a container the app listens on every interface, so API_KEY is required (the app refuses to
# start without it); publish the port on the host's loopback unless you mean otherwise (compose does).
ENV HOST=0.0.0.0 PORT=8000 ASSETS_DIR=/data/assets
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--"]
# python main.py starts uvicorn from the settings (HOST, PORT, the drain's graceful timeout).
CMD ["python", "main.py"]
