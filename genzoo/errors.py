"""Exceptions that the CLI prints as one readable line (a traceback only with --debug)."""


class GenzooError(Exception):
    """Base class for every error caused by user input, data or checkpoints."""


class ConfigError(GenzooError):
    """An unknown, missing or ill-typed configuration key."""


class DataError(GenzooError):
    """A missing, corrupt or malformed dataset file, or an unknown dataset."""


class CheckpointError(GenzooError):
    """A run or saved model that cannot be loaded, or one of another model type."""


class RunError(CheckpointError):
    """A run directory that does not exist, or has no checkpoint of the step or kind asked for."""


class TrainingError(GenzooError):
    """Training stopped: a non-finite loss or an inconsistent resume."""


class TrainingStopped(GenzooError):
    """Training was stopped by a signal after checkpointing; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
