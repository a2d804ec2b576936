import pkgutil
import subprocess
import sys

import reflective_domain


def test_domain_imports_only_the_standard_library():
    modules = [
        m.name for m in pkgutil.walk_packages(reflective_domain.__path__, "reflective_domain.")
    ]
    script = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "third = sorted({m.split('.')[0] for m in sys.modules}"
        " - set(sys.stdlib_module_names) - {'reflective_domain'})\n"
        "print(','.join(n for n in third if not n.startswith('_')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": reflective_domain.__path__[0].rsplit("/", 1)[0]},
    )
    assert len(modules) > 10
    assert out.stdout.strip() == ""
