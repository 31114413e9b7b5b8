"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""


class CodeseekError(Exception):
    """An expected failure with a message that says what to do."""


class IndexCorrupt(CodeseekError):
    def __init__(self, directory: object, detail: str) -> None:
        super().__init__(
            f"the index in {directory} is unreadable ({detail}); rebuild it with `codeseek index --rebuild`"
        )


class SegmentDamaged(CodeseekError):
    """A vector file that does not match what was written: its vectors can be embedded again."""

    def __init__(self, directory: object, name: str, detail: str, count: int) -> None:
        super().__init__(
            f"the index in {directory} has a vector file that is damaged ({name}: {detail}); "
            f"`codeseek index` embeds its {count:,} vectors again"
        )
        self.name = name


class IndexReadOnly(CodeseekError):
    def __init__(self, directory: object) -> None:
        super().__init__(f"cannot write to the index in {directory}: it is read-only for this user")


class RefusedPath(CodeseekError):
    """A place codeseek would write that is a link, not a folder or file, or another user's:
    codeseek writes and deletes only in its own folders and follows no link to do it."""

    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"refusing to write in {path}: {why} (codeseek follows no link and writes only "
                         "in folders of this user's)")
        self.path = path


class ModelMismatch(CodeseekError):
    pass


class IndexBusy(CodeseekError):
    """Another process holds the writer lock (and the caller asked not to wait)."""


class DiskFull(CodeseekError):
    """The disk has no room: the index was left as it was, and needs no rebuild."""

    def __init__(self, directory: object) -> None:
        super().__init__(f"the disk holding {directory} is full: free some space and run the command again "
                         "(the index was left as it was)")


class EngineUnavailable(CodeseekError):
    """The embedding engine cannot be reached (a server that is down): words can still answer."""
