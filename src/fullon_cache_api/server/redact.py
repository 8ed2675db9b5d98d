"""Keep credentials out of uvicorn's debug log.

uvicorn hands its ``uvicorn.error`` logger to the ``websockets`` protocol, which at DEBUG
logs every handshake header (``Authorization: Bearer …`` included) and the start and end
of every frame (``connection_init`` carries the API key). :class:`RedactCredentials`
replaces credential header values with ``[redacted]`` and data frames with their type
and length only. Installed once on that logger by :func:`install`.
"""

from __future__ import annotations

import logging

LOGGER = "uvicorn.error"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_HEADER_FORMATS = frozenset({"< %s: %s", "> %s: %s"})
_FRAME_FORMATS = frozenset({"< %s", "> %s"})


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG or not isinstance(record.args, tuple):
            return True
        args = record.args
        if record.msg in _HEADER_FORMATS and len(args) == 2:
            name = str(args[0])
            if name.lower() in SECRET_HEADERS:
                record.args = (name, "[redacted]")
        elif record.msg in _FRAME_FORMATS and len(args) == 1:
            frame = args[0]
            opcode = getattr(frame, "opcode", None)
            data = getattr(frame, "data", None)
            if opcode is not None and isinstance(data, bytes | bytearray):
                name = getattr(opcode, "name", str(opcode))
                record.args = (f"{name} [{len(data)} bytes, redacted]",)
        return True


def install() -> None:
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(existing, RedactCredentials) for existing in logger.filters):
        logger.addFilter(RedactCredentials())
