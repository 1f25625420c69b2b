"""``faceinpaint``: start the desktop studio, optionally scripted for screenshots and smoke tests.

``faceinpaint IMAGE --preset mouth --model telea --screenshot out.png`` loads the photo, applies
the preset, runs the model, saves a screenshot of the whole window and exits 0 (non-zero with a
message on stderr on failure: 2 for a user error such as a missing photo or an unknown model,
1 when a model fails or the run times out). It works offscreen (``QT_QPA_PLATFORM=offscreen``).
The screenshot is exactly ``--size`` pixels. ``faceinpaint --screenshot out.png`` alone saves the
start window as it first shows (``benchmarks/bench_startup.py`` times that).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from engine.cli_common import run_main
from faceinpaint_app.preferences import THEMES
from faceinpaint_app.theme import apply_theme

APP_NAME = "FaceInpaint"
DEFAULT_TIMEOUT_S = 600
# torch (seconds to import) loads on the engine thread this long after the window is shown, so
# the first paint never waits for it (issue 13: first window within 2 s).
TORCH_PRELOAD_DELAY_MS = 500


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` as (width, height)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 1360x860, got {text!r}") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceinpaint", description="Complete occluded faces in photos.")
    parser.add_argument("image", nargs="?", type=Path, help="photo to open")
    parser.add_argument("--mask", type=Path, help="mask PNG to load (white = to complete)")
    parser.add_argument("--preset", help="mask preset to apply, e.g. mouth, left-eye, random-block")
    parser.add_argument("--model", help="model to run on the masked photo, e.g. telea")
    parser.add_argument("--compare", help="comma-separated models to run side by side, e.g. telea,navier-stokes")
    parser.add_argument("--samples", type=int, default=1, help="completions to draw (models that sample)")
    parser.add_argument("--seed", type=int, help="seed of the first sample")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the window once done, then exit")
    parser.add_argument("--theme", choices=THEMES, help="colour theme (default: the saved preference)")
    parser.add_argument("--size", type=parse_size, default=(1360, 860),
                        help="window size for screenshots, WIDTHxHEIGHT")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds before a scripted run gives up")
    return parser


class ScriptedRun:
    """Drive the window through load -> mask -> run -> screenshot and set the exit code.

    It runs in its own event loop, not ``QApplication.exec``: quitting the application would
    leave every later event loop of the process returning at once (tests call ``main`` in-process).
    """

    def __init__(self, window, args: argparse.Namespace) -> None:
        self.window, self.args = window, args
        self.exit_code: int | None = None
        self.loop = QEventLoop()
        self.deadline = QTimer(singleShot=True, interval=round(args.timeout * 1000))
        self.deadline.timeout.connect(lambda: self.fail(f"gave up after {args.timeout:g} s", code=1))
        self.deadline.start()

    def start(self) -> None:
        minimum = self.window.minimumSizeHint()
        if minimum.width() > self.args.size[0] or minimum.height() > self.args.size[1]:
            self.fail(f"--size {self.args.size[0]}x{self.args.size[1]} is smaller than the window can be "
                      f"({minimum.width()}x{minimum.height()})")
            return
        if self.args.image is None:  # --screenshot alone: the start window as it first shows
            self._finish()
            return
        if self.window.document.is_empty:
            self.fail(self.window.last_error or "no photo was loaded")
            return
        self.window.faces_ready.connect(self._after_faces, Qt.ConnectionType.SingleShotConnection)

    def _after_faces(self) -> None:
        window, args = self.window, self.args
        if args.mask is not None:
            from engine.errors import FaceInpaintError
            from engine.imageio import read_mask
            from engine.maskops import flatten

            try:
                mask = read_mask(args.mask, window.document.mask.shape, resize=True)
            except FaceInpaintError as err:
                return self.fail(str(err))
            window.replace_mask(flatten(mask), f"Import {args.mask.name}")
        if args.preset and not window.apply_preset(args.preset, seed=args.seed):
            return self.fail(window.last_error)
        models = [m.strip() for m in args.compare.split(",") if m.strip()] if args.compare else []
        if args.model and not models:
            models = [args.model]
        if not models:
            return self._finish()
        unavailable = self._check_models(models)
        if unavailable:
            return self.fail(unavailable)
        window.resolve_device_in_background()  # queued ahead of the run: its screenshot names the device
        window.run_finished.connect(self._after_run, Qt.ConnectionType.SingleShotConnection)
        if args.compare:
            window.model_panel.set_checked(models)
            window.compare(models)
        else:
            panel = window.model_panel
            panel.select(models[0])
            panel.samples.setValue(args.samples)
            if args.seed is not None:
                panel.seed.setValue(args.seed)
            window.run_models(models, samples=args.samples, seed=args.seed)
        if not window.engine.busy:
            self.fail(window.last_error or "the run did not start")

    def _check_models(self, models: list[str]) -> str:
        entries = self.window.model_panel.entries
        for name in models:
            if name not in entries:
                return f"no model called {name!r}; known models: {', '.join(entries)}"
            if not entries[name].ready:
                return f"{name} cannot run: {entries[name].reason}"
        return ""

    def _after_run(self, produced_results: bool) -> None:
        if not produced_results:
            return self.fail(self.window.last_error or "the run produced no result", code=1)
        self._finish()

    def _finish(self) -> None:
        if self.args.screenshot is None:
            return self.succeed()
        QTimer.singleShot(150, self._screenshot)  # let layouts settle and the last repaint land

    def _screenshot(self) -> None:
        from engine.errors import FaceInpaintError
        from engine.imagesave import save_image
        from faceinpaint_app.qimage import qimage_to_rgb

        try:
            save_image(self.args.screenshot, qimage_to_rgb(self.window.grab().toImage()), overwrite=True,
                       protect=self.args.image)
        except FaceInpaintError as err:
            return self.fail(str(err))
        print(f"saved {self.args.screenshot}")
        self.succeed()

    def succeed(self) -> None:
        self._exit(0)

    def fail(self, message: str, code: int = 2) -> None:
        print(f"faceinpaint: error: {message}", file=sys.stderr)
        self._exit(code)

    def _exit(self, code: int) -> None:
        if self.exit_code is None:
            self.exit_code = code
            self.deadline.stop()
            self.window.close()
            self.loop.exit(code)


def main(argv: list[str] | None = None) -> int:
    return run_main("faceinpaint", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    scripted = any((args.screenshot, args.model, args.compare, args.preset, args.mask))
    if args.image is None and any((args.model, args.compare, args.preset, args.mask)):
        parser.error("a scripted run (--model, --compare, --preset, --mask) needs an IMAGE")
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if args.screenshot is not None and args.image is not None and same_file(args.screenshot, args.image):
        parser.error(f"--screenshot {args.screenshot} is the photo itself; refusing to overwrite it")

    from faceinpaint_app.qt_check import binding_drops_references, broken_binding_message

    if binding_drops_references():
        print(f"faceinpaint: error: {broken_binding_message()}", file=sys.stderr)
        return 1

    app = QApplication.instance()
    if app is None:  # Qt 6 scales for high DPI; pass fractional factors (125 %, 150 %) through unrounded
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0]])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    from faceinpaint_app.main_window import MainWindow
    from faceinpaint_app.preferences import Preferences

    if scripted:  # a scripted run neither reads nor changes the user's settings
        settings_dir = tempfile.TemporaryDirectory(prefix="faceinpaint-")
        prefs = Preferences(QSettings(str(Path(settings_dir.name) / "settings.ini"), QSettings.Format.IniFormat))
    else:
        prefs = Preferences()
    theme = args.theme or prefs.theme
    apply_theme(app, theme)
    if theme == "system":
        app.styleHints().colorSchemeChanged.connect(lambda _: apply_theme(app, "system"))

    window = MainWindow(prefs, ask_before_discarding=not scripted)
    if scripted:
        window.resize(*args.size)
    window.show()
    if args.image is not None:
        window.open_path(args.image)
    if not scripted:  # scripted runs stay without torch unless their model needs it
        QTimer.singleShot(TORCH_PRELOAD_DELAY_MS, window.resolve_device_in_background)
        return leave(app.exec(), prefs)
    script = ScriptedRun(window, args)
    script.start()
    code = script.loop.exec() if script.exit_code is None else script.exit_code
    settings_dir.cleanup()
    return code


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def leave(code: int, prefs) -> int:
    """The exit code; a model that ignored Cancel past the close timeout does not hold the process."""
    from faceinpaint_app.worker import engine_threads_running

    if engine_threads_running():
        prefs.settings.sync()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # a Python exit would destroy the still-running QThread, which aborts
    return code


if __name__ == "__main__":
    sys.exit(main())
