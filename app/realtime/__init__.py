"""Socket.IO plumbing every domain shares: `sockets` (connect and authenticate, the event registry, the open sockets
of each account) and `push` (what a transaction sends once it commits)."""
