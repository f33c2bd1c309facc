"""Errors raised by services; views turn them into HTTP answers."""
from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a message already in the user's language."""

    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(ServiceError):
    status = 404


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class ValidationFailed(ServiceError):
    status = 422
