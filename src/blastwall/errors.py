"""One error tree for blastwall.

    BlastwallError            code, message
     ├── InputError           bad input from outside: names the file and line or field
     │    ├── InventoryError  an inventory file is malformed or inconsistent
     │    ├── ProposalError   a proposal or artifact is malformed
     │    └── PolicyError     a policy file is malformed or does not compile
     └── EngineError          the engine could not decide (always fails closed)

Every error has a stable ``code`` (used in JSON output and exit handling) and a
message that says where the fault is.
"""
from __future__ import annotations


class BlastwallError(Exception):
    code = "error"

    def __init__(self, message: str, *, source: str | None = None,
                 line: int | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def where(self) -> str:
        parts = []
        if self.source:
            parts.append(self.source + (f":{self.line}" if self.line else ""))
        elif self.line:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "source": self.source,
                "line": self.line, "field": self.field}


class InputError(BlastwallError):
    code = "bad_input"


class InventoryError(InputError):
    code = "bad_inventory"


class ProposalError(InputError):
    code = "bad_proposal"


class PolicyError(InputError):
    code = "bad_policy"


class EngineError(BlastwallError):
    code = "engine_error"
