"""Version 5 of the .slt layout: version 4's (v4.py) with one more slt-grid header field,
grid_motion (fields.GRID_V5): when 1, each segment's payload holds a motion block after its synthesis
layers (methods/grid.py): 0 for a group whose camera is still, or 1 and every frame's integer-pixel
window offset on the segment's canvas, over which its grids then lie (motion.py). The NeRV methods'
headers, the segment table, the rest of the payloads' layout and the CRC are as in version 4."""

from __future__ import annotations

from .fields import CONFIG_FIELDS_V5
from .v4 import LayoutV4


class LayoutV5(LayoutV4):
    version = 5
    config_fields = CONFIG_FIELDS_V5


LAYOUT = LayoutV5()
VERSION = LAYOUT.version
header_bytes, payload_bytes, assemble, write = LAYOUT.header_bytes, LAYOUT.payload_bytes, LAYOUT.assemble, LAYOUT.write
front, parse, read_payload, size_sections = LAYOUT.front, LAYOUT.parse, LAYOUT.read_payload, LAYOUT.size_sections
