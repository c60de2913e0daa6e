"""`parlay dashboard`: the monitoring database in a web browser, served by the standard library's HTTP server.

`cli` starts it; `server` answers HTTP (JSON, the page, tasks' output files through `files`); `queries` (with
`timelines`, `usage` and `reader`) reads the database with SQLAlchemy Core: aggregates in SQL, lists paginated,
large runs sampled (`sql`); `static/` holds the page, its scripts (charts drawn in SVG) and its style.
"""
