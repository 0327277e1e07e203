"""Xero as a tokenbooks ledger: one package, registered in `connector/ledgers/registry.py`.

`adapter` (the ledger port on xero-python, with Xero's limiter), `oauth` (SDK plumbing, OAuth, organisation
choice), `errors` (the one `classify`), `entry` (the mapping target's shape and schema, the chart rule,
settings section and how the composition root builds the adapter for an entity).
"""
