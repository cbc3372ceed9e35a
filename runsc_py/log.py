"""runc-style logging: --log FILE, --log-format text|json, --debug. containerd's shim
shows the last `level: error` line of that file to the user, so every failure ends
up there as one line."""
from __future__ import annotations

import json
import logging
import sys


class _RuncFormatter(logging.Formatter):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.json = fmt == "json"

    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "warning", "CRITICAL": "fatal"}.get(record.levelname,
                                                                 record.levelname.lower())
        msg = record.getMessage()
        if record.exc_info and logging.getLogger("runsc-py").isEnabledFor(logging.DEBUG):
            msg += "\n" + self.formatException(record.exc_info)
        import datetime  # noqa: PLC0415 - only when there is a log to write (~1 ms)

        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        if self.json:
            return json.dumps({"level": level, "msg": msg, "time": now})
        return f'time="{now}" level={level} msg={json.dumps(msg)}'


def setup(path: str | None, fmt: str, debug: bool, role: str = "runsc-py") -> None:
    root = logging.getLogger("runsc-py")
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    if path:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    elif debug:
        handler = logging.StreamHandler(sys.stderr)
    else:
        # errors reach the user on stderr from the CLI itself; without a handler
        # logging's last resort would print them a second time
        root.addHandler(logging.NullHandler())
        return
    handler.setFormatter(_RuncFormatter(fmt))
    root.addHandler(handler)
