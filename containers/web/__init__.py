"""The browser dashboard: server-rendered pages; live data comes from the websockets and
actions go to the REST API (session + CSRF)."""
