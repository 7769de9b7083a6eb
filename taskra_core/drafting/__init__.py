"""Reply drafting: the checks and steps between an incoming message and a sent reply."""
