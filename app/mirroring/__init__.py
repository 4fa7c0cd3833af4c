"""Mirroring: the job that pulls upstream TAXII 2.1 collections into feeds, run by ``aisx serve`` in the
background and by ``aisx feed sync``. It sits above ``app.ingest`` (what it pulls is submitted like any post) and
``app.feeds``; neither imports it."""
