"""HQ's web console: server-rendered pages (Jinja2 and a little plain JS) for HQ staff and
regional managers, over the same queries and rules as the staff API; the caller's Principal
decides what each page shows. Chinese by default, English switchable; every asset ships inside
the package."""
