"""The configured VLM backend, chosen by name, with its status for /status pages."""
from pathlib import Path

from services.backends.ports import Vlm
from services.backends.vlm import DefaultVlm
from services.imaging.detect import UnavailableBackend


def build_vlm(backend: str, model_path: str, quantization: str, fallback: bool, settings=None,
              http_client=None) -> tuple[Vlm, dict]:
    """The configured VLM and its status; a failed real backend falls back or fails loudly (`http_client`:
    the served VLM's, rate-limited when VLM_RPM/TPM are set)."""
    requested = (backend or "default").strip().lower()
    if requested == "default":
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": True, "error": None}
    try:
        if requested == "openai" and settings is not None:
            from services.backends.served import build_served  # late: only the openai backend needs it

            return build_served(settings, http_client)  # a server still loading is reported, not fallen back from
        if requested != "llava":
            raise ValueError(f"unknown VLM backend {backend!r} (expected 'default', 'llava' or 'openai')")
        from services.backends.llava import LlavaVlm  # late: transformers and torch load only when asked for

        batching = {"max_batch_size": settings.llava_max_batch_size,
                    "batch_wait_ms": settings.llava_batch_wait_ms} if settings is not None else {}
        vlm = LlavaVlm(model_path, quantization, **batching)
        return vlm, {"backend": requested, "active": vlm.name, "loaded": True, "error": None}
    except Exception as exc:  # noqa: BLE001 - any load failure: missing directory, bad files, no bitsandbytes, broken install
        reason = f"{type(exc).__name__}: {exc}"
    if fallback:
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": False,
                              "error": f"{reason} (fell back to {DefaultVlm.name})"}
    name = f"llava:{Path(model_path).name}" if requested == "llava" else requested
    return UnavailableBackend(name, reason), {"backend": requested, "active": name, "loaded": False, "error": reason}
