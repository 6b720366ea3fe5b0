"""User-facing errors: each carries one clear line that the CLI and the API print as is."""


class GenrelabError(Exception):
    """Base class: ``str(err)`` is a complete, single-line message for the user."""


class AudioError(GenrelabError):
    """A file could not be turned into usable audio (missing, empty, corrupt, too short...)."""


class DataError(GenrelabError):
    """A dataset, manifest, label or split is missing or malformed."""


class ModelError(GenrelabError):
    """A model name, bundle or hyper-parameter is unknown or invalid."""
