"""The model package loads its modules on first use, and still offers every name it lists."""

from __future__ import annotations

import subprocess
import sys

import certward.model as model


def test_every_listed_name_resolves_to_its_module() -> None:
    assert sorted(model.__all__) == sorted(model._WHERE)
    for name in model.__all__:
        value = getattr(model, name)
        defined_in = sys.modules[f"certward.model.{model._WHERE[name]}"]
        assert getattr(defined_in, name) is value


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        model.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown name resolved")


def test_a_certificate_name_loads_only_the_certificates_module() -> None:
    code = (
        "import sys\n"
        "from certward.model import Thumbprint\n"
        "print(sorted(m for m in sys.modules if m.startswith('certward.model.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['certward.model.certificates']"
