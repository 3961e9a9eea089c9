"""Version 2 of the .slt layout: version 1's (v1.py) with one change in the header. After the
common fields (magic .. sparsity, fields.HEADER_COMMON) come the network fields of the method's
kind (fields.CONFIG_FIELDS[method.config_fields]): the NeRV methods' are version 1's fields,
byte for byte; slt-grid's are its grid and synthesis shape (fields.GRID_V2). The segment table,
the payloads (each written and read by the method) and the CRC are as in version 1."""

from __future__ import annotations

from .cursor import Cursor
from .fields import CONFIG_FIELDS, HEADER_COMMON, read_fields
from .header import Header
from .v1 import Layout


def _kind(method_id: int) -> str:
    from .. import methods

    return methods.from_id(method_id).config_fields


class LayoutV2(Layout):
    version = 2
    config_fields = CONFIG_FIELDS  # a method's kind -> its network fields in this version

    def header_fields(self, header: Header):
        from .. import methods

        if getattr(header.network, "residual", False) and self.version < 3:
            raise ValueError(f"residual latent grids need format version 3, not {self.version}")
        if getattr(header.network, "context", False) and self.version < 4:
            raise ValueError(f"context-coded latent grids need format version 4, not {self.version}")
        if getattr(header.network, "motion", False) and self.version < 5:
            raise ValueError(f"latent grids with motion need format version 5, not {self.version}")
        return HEADER_COMMON + self.config_fields[methods.get(header.method).config_fields]

    def read_header(self, cur: Cursor) -> dict:
        values = read_fields(cur, HEADER_COMMON)
        values.update(read_fields(cur, self.config_fields[_kind(values["method"])]))
        return values


LAYOUT = LayoutV2()
VERSION = LAYOUT.version
header_bytes, payload_bytes, assemble, write = LAYOUT.header_bytes, LAYOUT.payload_bytes, LAYOUT.assemble, LAYOUT.write
front, parse, read_payload, size_sections = LAYOUT.front, LAYOUT.parse, LAYOUT.read_payload, LAYOUT.size_sections
