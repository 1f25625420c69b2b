"""Issue 13, item 3: the window shows without torch (seconds to import); torch loads afterwards on
the engine thread, when the device preference is resolved. Each check runs in a fresh interpreter,
since this test session has long imported torch itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.engine.test_baselines_without_torch import LEARNED, loaded_heavy_modules

REPO = Path(__file__).resolve().parents[2]

SHOW_THEN_RESOLVE = """
import sys, tempfile
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from faceinpaint_app.main_window import MainWindow
from faceinpaint_app.preferences import Preferences
settings = QSettings(tempfile.mkdtemp() + "/settings.ini", QSettings.Format.IniFormat)
window = MainWindow(Preferences(settings), ask_before_discarding=False)
window.show()
app.processEvents()
heavy = {learned!r}
print("SHOWN", sorted(m for m in sys.modules if m in heavy), window.device_label.text())
loop = QEventLoop()
window.engine.device_resolved.connect(lambda *_: QTimer.singleShot(0, loop.quit))
QTimer.singleShot(120_000, loop.quit)
window.resolve_device_in_background()
loop.exec()
print("RESOLVED", "torch" in sys.modules, window.device_label.text())
window.close()
"""


def test_the_start_window_is_shown_without_torch_and_loads_it_in_the_background(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    done = subprocess.run([sys.executable, "-c", SHOW_THEN_RESOLVE.format(learned=LEARNED)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("SHOWN", "RESOLVED")))
    assert lines["SHOWN"] == "[] Device: auto"
    assert lines["RESOLVED"] in ("True Device: cpu", "True Device: cuda", "True Device: mps")


def test_the_scripted_first_window_screenshot_imports_no_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    heavy = loaded_heavy_modules("faceinpaint_app.main", ["--screenshot", tmp_path / "first.png"])
    assert (tmp_path / "first.png").is_file()
    assert heavy == []
