"""Error types. Every problem a user can cause is an InrcodecError: the CLI prints its message on one
line and exits with code 2, never a traceback."""


class InrcodecError(Exception):
    """A user-facing error (bad input, bad file, refused overwrite)."""


class InputError(InrcodecError):
    """The input video or an option is unusable."""


class BitstreamError(InrcodecError):
    """A .slt file is malformed, corrupt, truncated or beyond the decoder's limits."""
