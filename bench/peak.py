"""Peak memory of one method on one file, in a fresh process (`python -m bench.peak METHOD FILE`).

Prints the growth of VmHWM over the after-import high-water mark, in bytes. A fresh process is needed:
a child inherits its parent's ru_maxrss across exec, and VmHWM never goes down.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import methods


def vm_hwm() -> int:
    """VmHWM from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    name, path = sys.argv[1], sys.argv[2]
    data = Path(path).read_bytes()
    methods.setup_pyvips()
    import pyvips  # noqa: F401  - imported before the baseline, like PIL and pillow_heif

    methods.imaging._register_heif()
    before = vm_hwm()
    methods.METHODS[name](data)
    print(vm_hwm() - before)


if __name__ == "__main__":
    main()
