"""Benchmark of `chalicelib.imaging.process` against naive Pillow baselines and pyvips (`make bench`)."""
