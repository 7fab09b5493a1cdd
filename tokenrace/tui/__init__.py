"""``tokenrace tui``: the side-by-side race in a terminal (Textual).

``client.py`` (sources, no Textual) -> ``messages.py`` (protocol-shaped dataclasses) ->
``app.py`` (folds them into ``state.RunState``) -> ``screens/`` and ``widgets/`` (display only).
Never imports ``tokenrace.server``: remote mode speaks the server's HTTP/SSE protocol.
"""
