"""inrcodec: a neural video codec storing a video as a seeded random NeRV network plus learned-scale
hierarchical supermasks (Choi, Kang, Oh, ICML 2023).

    import inrcodec
    report = inrcodec.encode("clip.y4m", "clip.slt")
    inrcodec.decode("clip.slt", "clip.mp4")
"""

__version__ = "0.1.0"

from .errors import BitstreamError, InputError, InrcodecError  # noqa: E402

# The rest loads torch: imported on first use, so that the CLI can set OpenMP's wait policy before
# torch loads (inrcodec/threads.py).
_LAZY = {"decode": "api", "encode": "api", "info": "api", "Decoder": "decoder", "EncodeOptions": "encoder",
         "encode_clip": "encoder", "FitOptions": "fit.trainer"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BitstreamError", "Decoder", "EncodeOptions", "FitOptions", "InputError", "InrcodecError",
    "decode", "encode", "encode_clip", "info",
]
