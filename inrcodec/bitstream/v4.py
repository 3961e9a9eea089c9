"""Version 4 of the .slt layout: version 3's (v3.py) with one more slt-grid header field,
grid_context (fields.GRID_V4): when 1, a segment's latent model holds zero-inflated laws, several
per residual grid and channel, the frame differences' law chosen per cell from the difference before
(methods/grid.py, entropy/inflated.py). The NeRV methods' headers, the segment table, the payloads'
layout and the CRC are as in version 3."""

from __future__ import annotations

from .fields import CONFIG_FIELDS_V4
from .v3 import LayoutV3


class LayoutV4(LayoutV3):
    version = 4
    config_fields = CONFIG_FIELDS_V4


LAYOUT = LayoutV4()
VERSION = LAYOUT.version
header_bytes, payload_bytes, assemble, write = LAYOUT.header_bytes, LAYOUT.payload_bytes, LAYOUT.assemble, LAYOUT.write
front, parse, read_payload, size_sections = LAYOUT.front, LAYOUT.parse, LAYOUT.read_payload, LAYOUT.size_sections
