"""Benchmark helpers: standard codecs at matched bpp, and Bjøntegaard deltas."""

from .bdrate import bd_detail, bd_psnr, bd_rate
from .standard import CODECS, StandardResult, encode_standard

__all__ = ["CODECS", "StandardResult", "bd_detail", "bd_psnr", "bd_rate", "encode_standard"]
