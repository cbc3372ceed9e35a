"""Builds the cffi hot paths of the sentry (sentry/_native) and the gofer (gofer/_native)
with the package."""
from setuptools import setup

setup(cffi_modules=["sentry/_native/build.py:ffibuilder", "gofer/_native/build.py:ffibuilder"])
