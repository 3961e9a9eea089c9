"""Version 3 of the .slt layout: version 2's (v2.py) with one more slt-grid header field,
grid_residual (fields.GRID_V3): when 1, each per-frame latent grid after a segment's first frame is
coded as its difference from the frame before (the decoder adds them up; methods/grid.py). The NeRV
methods' headers, the segment table, the payloads' layout and the CRC are as in version 2."""

from __future__ import annotations

from .fields import CONFIG_FIELDS_V3
from .v2 import LayoutV2


class LayoutV3(LayoutV2):
    version = 3
    config_fields = CONFIG_FIELDS_V3


LAYOUT = LayoutV3()
VERSION = LAYOUT.version
header_bytes, payload_bytes, assemble, write = LAYOUT.header_bytes, LAYOUT.payload_bytes, LAYOUT.assemble, LAYOUT.write
front, parse, read_payload, size_sections = LAYOUT.front, LAYOUT.parse, LAYOUT.read_payload, LAYOUT.size_sections
