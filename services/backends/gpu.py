"""How the GPUs are doing: memory and utilisation per device, from NVML (nvidia-ml-py) when present, else torch."""
import sys
import threading

NO_CUDA = "no CUDA device"
_nvml_state: dict = {}
_nvml_lock = threading.Lock()


def _nvml():
    """The initialised pynvml module, or None (not installed, no driver, no GPU); tried once per process."""
    with _nvml_lock:
        if "module" not in _nvml_state:
            try:
                import pynvml  # the nvidia-ml-py package

                pynvml.nvmlInit()
                _nvml_state["module"] = pynvml
            except Exception:  # noqa: BLE001 - ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded
                _nvml_state["module"] = None
        return _nvml_state["module"]


def _nvml_handle(nvml, torch, index: int):
    """NVML's handle for CUDA device `index`: by UUID, since CUDA_VISIBLE_DEVICES and CUDA's order renumber them."""
    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
        return nvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
    except Exception:  # noqa: BLE001 - older torch without .uuid, MIG: fall back to the index
        return nvml.nvmlDeviceGetHandleByIndex(index)


def _device(index: int, torch, nvml) -> dict:
    """One device: name, memory (bytes) and utilisation (%); None where no source can say."""
    out: dict = {"index": index, "name": None, "memory_allocated_bytes": None, "memory_reserved_bytes": None,
                 "memory_total_bytes": None, "memory_used_bytes": None, "utilization_percent": None, "source": None}
    if torch is not None:  # this process's own tensors: only the process holding the model knows them
        props = torch.cuda.get_device_properties(index)
        out.update(name=props.name, memory_total_bytes=int(props.total_memory), source="torch",
                   memory_allocated_bytes=int(torch.cuda.memory_allocated(index)),
                   memory_reserved_bytes=int(torch.cuda.memory_reserved(index)))
    if nvml is not None:  # the whole device: every process's memory, and how busy it was
        handle = _nvml_handle(nvml, torch, index) if torch is not None else nvml.nvmlDeviceGetHandleByIndex(index)
        name = nvml.nvmlDeviceGetName(handle)
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        out.update(name=name.decode() if isinstance(name, bytes) else name, memory_total_bytes=int(mem.total),
                   memory_used_bytes=int(mem.used), source="nvml",
                   utilization_percent=float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
    elif torch is not None:
        try:
            out["utilization_percent"] = float(torch.cuda.utilization(index))
        except Exception:  # noqa: BLE001 - torch reads it through pynvml too; without it: unknown
            pass
    return out


def gpu_report(torch_module=None) -> dict:
    """Every CUDA device this process can see; `available: false` with the reason when there is none.

    torch is used only when the caller passes it or it is already imported: the app process and the
    CPU workers never load it just to report."""
    torch = torch_module or sys.modules.get("torch")
    if torch is not None and not torch.cuda.is_available():
        torch = None
    nvml = _nvml()
    try:
        count = torch.cuda.device_count() if torch is not None else (nvml.nvmlDeviceGetCount() if nvml else 0)
        devices = [_device(i, torch, nvml) for i in range(count)]
    except Exception as exc:  # noqa: BLE001 - a driver error is reported, never raised into /healthz
        return {"available": False, "reason": f"{NO_CUDA}: {type(exc).__name__}: {exc}", "devices": []}
    return {"available": bool(devices), "reason": None if devices else NO_CUDA, "devices": devices}


def free_memory_note(torch, device: str) -> str:
    """'3.1 GiB free of 23.6 GiB on cuda:0', or why nothing can be said (for load errors)."""
    try:
        if not torch.cuda.is_available():
            return NO_CUDA
        free, total = torch.cuda.mem_get_info(torch.device(device))
        return f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB on {device}"
    except Exception as exc:  # noqa: BLE001 - the note must never hide the load error itself
        return f"memory unknown ({type(exc).__name__})"
