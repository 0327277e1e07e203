"""QuickBooks Online as a tokenbooks ledger: one package, registered in `connector/ledgers/registry.py`.

`adapter` (the ledger port on python-quickbooks), `client` (OAuth, HTTP under the SDK, error classification),
`batch` (batch ids and body), `entry` (what the registry needs: the mapping target's shape and schema, the
chart rule, settings section and how the composition root builds the adapter for an entity).
"""
