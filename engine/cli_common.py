"""What every FaceInpaint command does with errors, in one place.

``run_main(prog, fn)`` runs a command's body: a ``FaceInpaintError`` (bad input, missing weights,
an unusable config) prints one line and exits 2, Ctrl+C exits 130, and anything else is a bug:
one line saying so, then the traceback to paste into a report, and exit 1.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from engine.errors import FaceInpaintError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BUG = 1


def run_main(prog: str, fn: Callable[[], int | None], *, interrupted: str = "nothing was written") -> int:
    """Run ``fn`` and turn its outcome into an exit status; ``interrupted`` says what Ctrl+C left."""
    try:
        return int(fn() or 0)
    except FaceInpaintError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 -- the last resort: report the bug, never a bare traceback
        print(f"{prog}: internal error ({type(err).__name__}: {err}); this is a bug, please report it "
              "with the traceback below", file=sys.stderr)
        traceback.print_exc()
        return EXIT_BUG
