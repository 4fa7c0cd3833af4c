"""``rfc3987_syntax`` in the test processes themselves, compiled at its first use instead of at ``import jsonschema``.

stix2-validator's ``jsonschema[format-nongpl]`` installs rfc3987_syntax, and ``import jsonschema`` imports it, which
compiles 39 lark grammars: 2.5 s of the 6.5 s that cProfile gives ``pytest --collect-only`` (1.3 s of CPU without
the profiler), paid by every pytest-xdist worker as it collects. Only stix2-validator's format checks
(tests/test_validation_differential.py) ever call it. jsonschema takes one function from it, ``is_valid_syntax``:
this stand-in hands jsonschema a function that imports the real module at its first call and calls it, so every
check answers what the real one answers. (The processes the tests start have no rfc3987_syntax at all, as in a
production install: production_imports/rfc3987_syntax.py.)"""

import importlib
import importlib.util
import sys
import types
from typing import Any

_NAME = "rfc3987_syntax"


def _real() -> types.ModuleType:
    """The real module, imported on first use in place of the stand-in."""
    module = sys.modules.get(_NAME)
    if module is None or module is _STAND_IN:
        sys.modules.pop(_NAME, None)
        module = importlib.import_module(_NAME)
    return module


def _is_valid_syntax(term: str, value: str) -> bool:
    return bool(_real().is_valid_syntax(term, value))


def _any_other_name(name: str) -> Any:
    if name.startswith("_"):  # what the import system and pytest ask of any object (``__path__``, pytest's
        raise AttributeError(name)  # ``_pytestfixturefunction``...) is not a reason to load it: it has no such names
    return getattr(_real(), name)


_STAND_IN = types.ModuleType(_NAME, __doc__)
_STAND_IN.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
_STAND_IN.__getattr__ = _any_other_name  # type: ignore[method-assign]

if _NAME not in sys.modules and importlib.util.find_spec(_NAME) is not None:
    sys.modules[_NAME] = _STAND_IN
