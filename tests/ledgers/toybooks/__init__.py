"""A fifth ledger, written the way docs/architecture.md ("Adding a ledger") says: one package, one registry
line. `adapter` is the ledger port (here the in-memory ledger under another name, with a chart whose
accounts are numbered `T-…`), `settings` its settings section, `entry` is what the registry needs."""
