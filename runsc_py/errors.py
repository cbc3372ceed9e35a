"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class RuntimeFailure(Exception):
    """A user-facing failure: its message is printed (and logged) as the whole error."""
