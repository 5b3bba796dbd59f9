"""Exceptions with messages that name the bad value and what is allowed."""


class LatticeDiffError(Exception):
    """Base class of latticediff's own errors."""


class ParameterError(LatticeDiffError, ValueError):
    """A parameter is out of range or of the wrong type (the message names both)."""


class DataFileError(LatticeDiffError, OSError):
    """An HDF5 file is missing, unreadable, foreign to latticediff's schema, or corrupted."""


class DataFileExistsError(DataFileError, FileExistsError):
    """The target file exists and overwrite was not requested (CLI: --force)."""


class SamplingWarning(UserWarning):
    """A Monte Carlo run whose statistics deserve a second look (e.g. thinning < 2 tau_int)."""
