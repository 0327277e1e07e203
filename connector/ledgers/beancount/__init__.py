"""Beancount as a tokenbooks ledger (a `.beancount` file) and export format: one package, registered in
`connector/ledgers/registry.py`.

`adapter` (the export writer and the file ledger), `entry` (the mapping target's shape — beancount account
names — and how the composition root builds the file ledger for an entity).
"""
