"""The gofer's cffi hot path (C source + build script)."""
