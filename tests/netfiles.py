"""Net files taken apart and put back together, for tests that damage or edit them."""

import json
import struct


def split(data: bytes) -> tuple[dict, bytes]:
    """A safetensors file as (header, tensor bytes)."""
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + size]), data[8 + size:]


def joined(header: dict, body: bytes) -> bytes:
    """The safetensors file with this header and these tensor bytes."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body
