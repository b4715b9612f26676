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
