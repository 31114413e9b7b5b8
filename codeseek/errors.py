"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""


class CodeseekError(Exception):
    """An expected failure with a message that says what to do."""


class IndexCorrupt(CodeseekError):
    def __init__(self, directory: object, detail: str) -> None:
        super().__init__(
            f"the index in {directory} is unreadable ({detail}); rebuild it with `codeseek index --rebuild`"
        )


class ModelMismatch(CodeseekError):
    pass


class IndexBusy(CodeseekError):
    """Another process holds the writer lock (and the caller asked not to wait)."""
