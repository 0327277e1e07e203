"""The web console: an ASGI application (Starlette) served by uvicorn, server-rendered with Jinja2 and
htmx, every asset vendored in `static/` (no CDN: it runs behind the company's firewall).

This package only speaks HTTP — sessions, forms, templates; what a page shows and every change it makes
go through the use cases in `connector/service/` (`console`, `console_edits`, `users`, `approvals`, `sync`,
`close`, `exports`, `audit`). `/healthz` and `/metrics` are served by the same application.
"""
