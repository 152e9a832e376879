"""Errors services raise. Their messages are written for the person using the app."""

from __future__ import annotations


class ServiceError(Exception):
    """A request was refused; ``str(exc)`` is safe to show to the user."""


class FieldErrors(ServiceError):
    """Input failed validation; one message per form field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class AuthFailed(ServiceError):
    pass


class Throttled(ServiceError):
    pass


class NotAllowed(ServiceError):
    """The user may not see or change this (or it does not exist: we don't say which)."""


class Unavailable(ServiceError):
    """The database (or another backend) cannot be reached right now; trying again later may
    work. Nothing was changed."""

    def __init__(self, message: str = "Can't reach the server's database right now.") -> None:
        super().__init__(message)
