"""The photo gallery's domain code, adapters and pure image code (packaged with app.py)."""
