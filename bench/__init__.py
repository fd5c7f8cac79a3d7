"""Benchmark of `chalicelib.imaging.process` against a naive Pillow pipeline and pyvips (`make bench`)."""
