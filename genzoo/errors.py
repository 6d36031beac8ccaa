"""Exceptions that the CLI prints as one readable line (a traceback only with --debug)."""


class GenzooError(Exception):
    """Base class for every error caused by user input, data or checkpoints."""


class ConfigError(GenzooError):
    """An unknown, missing or ill-typed configuration key."""


class DataError(GenzooError):
    """A missing, corrupt or malformed dataset file, or an unknown dataset."""


class CheckpointError(GenzooError):
    """A run or saved model that cannot be loaded, or one of another model type."""


class TrainingError(GenzooError):
    """Training stopped: a non-finite loss or an inconsistent resume."""
