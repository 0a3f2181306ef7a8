"""The live room of a session: presence, rounds, raised hands, check-ins (in the room and between sessions), safety
alerts and their acknowledgement."""
