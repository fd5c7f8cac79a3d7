"""`python -m bench [--photos DIR] [--rounds N]`: time every method on every photo and print one table.

Each photo gets both renditions from each method. Rounds are interleaved (every method on a photo,
in a rotating order, before the next photo) so drift in machine speed hits all methods alike; a
method's time on a photo is its median over the rounds, and its total is the sum of those medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import methods

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif"}
ROOT = Path(__file__).resolve().parent.parent


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def pixels(data: bytes) -> int:
    width, height = methods.imaging.open_size(data)
    return width * height


def peak_rss(method: str, path: Path) -> int:
    """VmHWM growth of one call, measured in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.peak", method, str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def import_time(statement: str) -> float:
    """Seconds of imports for `statement` per `-X importtime` (sum of the self column)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    total = 0
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            field = line.split(":", 1)[1].split("|")[0].strip()
            if field.isdigit():
                total += int(field)
    return total / 1e6


def cold_start() -> None:
    """Import cost of app.py against boto3 alone, and whether `import app` drags in Pillow."""
    if not (ROOT / "app.py").exists():
        print("cold start: app.py does not exist yet; skipped")
        return
    try:
        boto = min(import_time("import boto3") for _ in range(3))
        app = min(import_time("import app") for _ in range(3))
    except RuntimeError as exc:
        print(f"cold start: `import app` failed ({exc}); skipped")
        return
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, app; print('PIL' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    pil = probe.stdout.strip() == "True"
    print(
        f"cold start: import app {app:.3f} s, import boto3 alone {boto:.3f} s, difference {app - boto:+.3f} s"
    )
    print(f"PIL imported by `import app`: {'yes (should be lazy!)' if pil else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    files = photos(args.photos)
    if not files:
        sys.exit(f"no photos under {args.photos}")
    blobs = {p: p.read_bytes() for p in files}
    methods.setup_pyvips()
    vips_ok = {p for p in files if methods.pyvips_decodes(blobs[p])}
    names = list(methods.METHODS)
    print(
        f"{len(files)} photos under {args.photos}; pyvips decodes {len(vips_ok)} of them;",
        f"{args.rounds} rounds",
    )

    # Warm-up: imports, plugin registration, lazy tables; also fails fast on a broken method.
    for p in files:
        for name in names:
            if name != "pyvips" or p in vips_ok:
                methods.METHODS[name](blobs[p])

    times: dict[str, dict[Path, list[float]]] = {name: {p: [] for p in files} for name in names}
    for r in range(args.rounds):
        for i, p in enumerate(files):
            order = names[(i + r) % len(names) :] + names[: (i + r) % len(names)]
            for name in order:
                if name == "pyvips" and p not in vips_ok:
                    continue
                start = time.perf_counter()
                methods.METHODS[name](blobs[p])
                times[name][p].append(time.perf_counter() - start)
    median = {name: {p: statistics.median(t) for p, t in per.items() if t} for name, per in times.items()}

    # Quality: PSNR of each method's 256 rendition against a LANCZOS resize of the full decode.
    min_psnr: dict[str, float] = {}
    for p in files:
        ref = methods.reference(blobs[p])
        for name in names:
            if name == "pyvips" and p not in vips_ok:
                continue
            value = methods.psnr(methods.METHODS[name](blobs[p])[-1], ref)
            min_psnr[name] = min(min_psnr.get(name, 99.0), value)

    largest = max(files, key=lambda p: pixels(blobs[p]))
    peaks = {name: peak_rss(name, largest) for name in names if name != "pyvips" or largest in vips_ok}

    def total(name: str, subset: set[Path] | None = None) -> float:
        return sum(t for p, t in median[name].items() if subset is None or p in subset)

    jpegs = {p for p in files if blobs[p][:3] == b"\xff\xd8\xff"}
    print()
    print(
        f"{'method':8} {'files':>5} {'total s':>8} {'jpeg s':>8} {'vips-set s':>10}",
        f"{'peak MiB':>9} {'min PSNR 256':>12}",
    )
    for name in names:
        peak = f"{peaks[name] / 2**20:9.1f}" if name in peaks else f"{'-':>9}"
        print(
            f"{name:8} {len(median[name]):5d} {total(name):8.3f} {total(name, jpegs):8.3f} "
            f"{total(name, vips_ok):10.3f} {peak} {min_psnr[name]:12.1f}"
        )
    print(
        f"peak MiB: VmHWM growth over the after-import mark, fresh process, on {largest.name} "
        f"({pixels(blobs[largest]) / 1e6:.1f} MP); times are sums of per-photo medians"
    )
    slowest = sorted(median["ours"].items(), key=lambda kv: -kv[1])[:5]
    print("ours, slowest photos: " + ", ".join(f"{p.name} {t * 1000:.0f} ms" for p, t in slowest))
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, Pillow {methods.Image.__version__}"
    )
    cold_start()
    print(
        "naive decodes the photo once per size (the issue's baseline, judged below); naive1 decodes it"
        f" once: ours is {total('naive1') / total('ours'):.2f}x naive1 on all files,"
        f" {total('naive1', jpegs) / total('ours', jpegs):.2f}x on JPEGs"
    )
    print(f"speedup_vs_naive: {total('naive') / total('ours'):.2f}")
    print(f"speedup_vs_naive_jpeg: {total('naive', jpegs) / total('ours', jpegs):.2f}")
    print(f"speedup_vs_pyvips: {total('pyvips', vips_ok) / total('ours', vips_ok):.2f}")
    print(f"peak_rss_ratio_vs_naive_on_largest: {peaks['ours'] / peaks['naive']:.2f}")
    print(f"min_psnr_256: {min_psnr['ours']:.1f}")


if __name__ == "__main__":
    main()
