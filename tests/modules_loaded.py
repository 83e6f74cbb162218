"""What a fresh ``certward`` process loads: the start-up tests' common script."""

# ``certward ARGS`` as its console script runs it (``main``), writing the names of every
# module loaded to the file $CERTWARD_TEST_MODULES at exit: sys.modules also has what was
# loaded by name through importlib (the model package's names), which -X importtime omits.
MAIN_LISTING_MODULES = """
import atexit, os, sys
def listed() -> None:
    with open(os.environ["CERTWARD_TEST_MODULES"], "w", encoding="utf-8") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(listed)
from certward.interfaces.cli.app import main
sys.argv = ["certward", *sys.argv[1:]]
main()
"""
