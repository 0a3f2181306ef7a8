"""Every notice one domain gives the others, as a blinker signal: the domain that knows something happened sends it,
and the domains it concerns listen, so that a lower package never imports a higher one. Receivers run in the same
transaction as the change that sent the notice, and a Refusal raised by one refuses the whole change.

Each receiver is called as receiver(sender, **values), the values named below; the sender is the object the notice is
about, or None where the values say it all. A question (a name ending in _asked) is answered by what its receivers
return: send() gives back each receiver's answer."""

from blinker import Namespace

_notices = Namespace()

#: An account was deactivated (sender: the User): what it still holds open goes (its places in live rooms, say).
account_deactivated = _notices.signal("account-deactivated")
#: An invitation was accepted (sender: the Invitation; user=the account that accepted it); its context says for what.
invitation_accepted = _notices.signal("invitation-accepted")
#: Someone is no longer an active member or facilitator of a group (user_id=, group_id=): they leave its live rooms.
member_left_group = _notices.signal("member-left-group")
#: A patient stopped sharing with a supporter (patient_id=, supporter_id=): what the sharing let them do ends.
sharing_revoked = _notices.signal("sharing-revoked")
#: A patient's data of one class changed (patient_id=, data_class=): whoever is shown it is nudged to refresh.
patient_data_changed = _notices.signal("patient-data-changed")
#: A socket closed (sid=): what it held (a presence in a live room) is let go.
socket_closed = _notices.signal("socket-closed")
#: Which of these sessions hold something a person wrote (occurrence_ids=)? Each receiver answers with the ids of those
#: it holds records for (check-ins, say), and a session that holds one is kept when its series changes.
session_records_asked = _notices.signal("session-records-asked")
