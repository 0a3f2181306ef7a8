"""The one refusal type: a domain rule said no. Pages show `message` (next to `field` when there is one), the API
answers 422 when the input is at fault, 409 when the state of things forbids it and 403 or 404 when the person may
not, and a socket event acknowledges
{"ok": false, "error": code, "message": message}. Anything else raised is a fault: logged, rolled back, and answered
as a server error, which clients keep and retry."""

from __future__ import annotations


class Refusal(Exception):
    """`code` for clients, `message` for people, `field` for the input at fault, `details` for what a client may use
    (the seconds until a room opens, say). A subclass may give its own default code."""

    code = "invalid"
    #: The codes that say the state of things refuses, whatever the input (a full group, a used invitation); a
    #: domain's subclass names its own.
    conflicts: frozenset[str] = frozenset({"conflict"})

    def __init__(self, message: str = "", field: str | None = None, code: str | None = None,
                 details: dict | None = None):
        if code is not None:
            self.code = code
        super().__init__(message or self.code)
        self.message = message
        self.field = field
        self.details = details or {}

    @property
    def input_at_fault(self) -> bool:
        """The input is what is wrong (422), rather than the state of things (409)."""
        return self.code not in self.conflicts

    @property
    def status(self) -> int:
        """The API's answer: 403 or 404 when the refusal is of the person, else 422 or 409 as above."""
        return REFUSED_PEOPLE.get(self.code) or (422 if self.input_at_fault else 409)


#: The codes that refuse the person rather than what they sent, with the API's status for each.
REFUSED_PEOPLE = {"unauthorized": 401, "forbidden": 403, "not_found": 404, "access_ended": 404}
