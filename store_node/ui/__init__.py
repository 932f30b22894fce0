"""The clerk's UI: server-rendered pages (Jinja2 and a little plain JS) over the node's own data.

Every page is a thin layer over the same actions and views the local API uses; nothing here holds
a rule of its own. Chinese by default, English switchable (:mod:`store_node.ui.texts`); every
asset ships inside the package (the store may be offline).
"""
