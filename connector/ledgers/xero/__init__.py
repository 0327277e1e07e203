"""Xero as a tokenbooks ledger: one package, registered in `connector/ledgers/registry.py`.

`adapter` (the ledger port on xero-python), `limits` (what Xero refuses and allows, without the SDK: the
accounts a manual journal may not touch, Xero's limiter), `oauth` (SDK plumbing, OAuth, organisation
choice), `errors` (the one `classify`), `connection` (consent → organisation, import, refresh lifetime,
limiter), `entry` (the mapping target's shape and schema, the chart rule, settings section and how the
composition root builds the adapter for an entity).
"""
