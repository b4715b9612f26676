"""Service errors: each maps to one HTTP status and the one error shape."""
from blastwall.errors import BlastwallError


class ServiceError(BlastwallError):
    status = 400


class Unauthorized(ServiceError):
    code, status = "unauthorized", 401


class Forbidden(ServiceError):
    code, status = "forbidden", 403


class NotFound(ServiceError):
    code, status = "not_found", 404


class Conflict(ServiceError):
    code, status = "conflict", 409


class BodyTooLarge(ServiceError):
    code, status = "too_large", 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes", field="body")


class BadRequest(ServiceError):
    code, status = "bad_request", 400
