"""inrcodec: a neural video codec storing a video as a seeded random NeRV network plus learned-scale
hierarchical supermasks (Choi, Kang, Oh, ICML 2023).

    import inrcodec
    report = inrcodec.encode("clip.y4m", "clip.slt")
    inrcodec.decode("clip.slt", "clip.mp4")
"""

__version__ = "0.1.0"

from .api import decode, encode, info  # noqa: E402
from .decoder import Decoder  # noqa: E402
from .encoder import EncodeOptions, encode_clip  # noqa: E402
from .errors import BitstreamError, InputError, InrcodecError  # noqa: E402
from .fit.trainer import FitOptions  # noqa: E402

__all__ = [
    "BitstreamError", "Decoder", "EncodeOptions", "FitOptions", "InputError", "InrcodecError",
    "decode", "encode", "encode_clip", "info",
]
