"""One line describing the machine a benchmark ran on (shared by the scripts here)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """For example ``2-core AMD EPYC 7B13 (x86_64), Linux``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {cpu} ({platform.machine()}), {platform.system()}"
