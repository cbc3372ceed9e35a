"""Builds the sentry's cffi hot path (sentry/_native) with the package."""
from setuptools import setup

setup(cffi_modules=["sentry/_native/build.py:ffibuilder"])
