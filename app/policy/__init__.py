"""Every authorization rule in one place: pages, the API, sockets and templates all ask here.

Each predicate takes explicit arguments and returns a bool; each ``require_*`` twin raises instead.
A rule that hides an object from outsiders raises Denied, a NotFound, so that a forbidden object and a missing one look
alike to the client; the error handler records it as the denial it is. The rules are kept in one module per part of
the product and read as one namespace: ``from app import policy; policy.can_view_group(user, group)``.
"""

from app.policy.core import *  # noqa: F403
from app.policy.groups import *  # noqa: F403
from app.policy.measures import *  # noqa: F403
from app.policy.sharing import *  # noqa: F403
