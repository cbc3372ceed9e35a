"""runsc-py: an OCI runtime that runs workloads under a user-space kernel (the sentry)."""

__version__ = "0.1.0"
OCI_VERSION = "1.0.2"
