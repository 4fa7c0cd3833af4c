"""Not importable in the servers and CLI runs the suite starts, as in a production install.

The test extras bring ``stix2-validator``, which asks for ``jsonschema[format-nongpl]`` and so installs
``rfc3987_syntax``; ``import jsonschema`` then imports it, and it compiles a lark grammar at import time: about
1.0 s of CPU in every ``aisx serve`` and every ``aisx`` command, half of what each costs (measured with
``python -X importtime -c 'import app.cli'``: 1.7 s of user time with it, 0.7 s without). AISX never checks JSON
Schema formats (no ``FormatChecker``), and ``pip install aisx`` does not install this package, so leaving it out
of the processes under test makes them the processes that production runs. The test process itself (and
``tests/test_validation_differential.py``'s stix2-validator) still imports the real one."""

raise ImportError("rfc3987_syntax is left out of the processes the tests start, as it is of a production install")
