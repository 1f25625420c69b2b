"""Runs and comparison jobs: starting them on the worker, their progress, results and state.

A run never changes the photo. Its completions go to the strip, grouped under their hole, and
the first one is previewed on the canvas; the user applies the one they want.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.models import get_spec
from faceinpaint_app.results_browser import ResultEntry
from faceinpaint_app.worker import EngineClient, InpaintJob, ModelOutcome


class RunController(QObject):
    run_finished = Signal(bool)  # a run (single or comparison) ended; True when it produced results

    def __init__(self, window, engine: EngineClient) -> None:
        super().__init__(window)
        self.window, self.engine = window, engine
        self.compare_job: int | None = None
        self._produced_results = False
        self._run_masks: dict[int, np.ndarray] = {}  # job id -> the mask it completed
        engine.progress.connect(self._on_progress)
        engine.model_finished.connect(self._on_model_finished)
        engine.job_finished.connect(self._on_job_finished)

    @property
    def busy(self) -> bool:
        return self.engine.busy

    def forget(self) -> None:
        """A new photo: stop the run and drop whatever it would still deliver."""
        self.engine.cancel()
        self._run_masks.clear()

    def run_selected(self) -> None:
        panel = self.window.model_panel
        name = panel.current_model()
        if not panel.current_ready():
            reason = panel.entries[name].reason if name else "no model is registered"
            self.window.show_error("This model cannot run", reason)
            return
        self.run_models([name], samples=panel.samples.value(), seed=panel.seed_value())

    def compare(self, names: list[str]) -> None:
        w = self.window
        if not names:
            w.show_error("Nothing to compare", "Tick the models to compare in the model panel.")
            return
        job_id = self.run_models(names, samples=1, seed=w.model_panel.seed_value(), compare=True)
        if job_id is not None:
            infos = w.model_panel.entries
            w.compare_grid.start(w.document.original, [(n, infos[n].info.display_name) for n in names],
                                 w.actions_["score"].isChecked(), w.document.mask)
            w.tabs.setCurrentWidget(w.compare_grid)

    def run_models(self, names: list[str], *, samples: int = 1, seed: int | None = None, compare: bool = False,
                   mask: np.ndarray | None = None) -> int | None:
        """Start a run on the worker (on ``mask``, else the painted one); returns its job id or None."""
        w = self.window
        if w.document.is_empty or self.engine.busy:
            return None
        mask = w.document.mask if mask is None else mask
        if not (mask > 127).any():
            w.show_error("Nothing to complete", "Paint over the part of the photo to complete, or pick a preset.")
            return None
        entries = w.model_panel.entries
        job = InpaintJob(
            models=names,
            image=w.document.image.copy(),
            mask=np.where(mask > 127, 255, 0).astype(np.uint8),
            samples=samples,
            seed=seed,
            face=w.document.face,
            device=w.prefs.device,
            options=w.model_panel.options() if len(names) == 1 else {},
            reference=w.document.original if compare and w.actions_["score"].isChecked() else None,
            weights={n: entries[n].weights for n in names if n in entries and entries[n].weights is not None},
        )
        job_id = self.engine.start(job)
        self.compare_job = job_id if compare else None
        self._produced_results = False
        self._run_masks[job_id] = job.mask
        w.last_error = ""
        w.progress.setValue(0)
        w.progress.setFormat(f"{names[0]}: starting…")
        w.progress.show()
        w.statusBar().showMessage(f"Running {', '.join(names)}… (Esc cancels)")
        w.update_enabled()
        return job_id

    def cancel_or_drop_shape(self) -> None:
        if self.engine.busy:
            self.engine.cancel()
            self.window.progress.setFormat("Cancelling…")
        else:
            self.window.canvas.cancel_shape()

    def more_samples(self, entry: ResultEntry) -> None:
        """New seeds for the same model on the same hole; they join the strip and apply nothing."""
        self.run_models([entry.model], samples=max(2, self.window.model_panel.samples.value()), mask=entry.mask)

    def reproduce(self, entry: ResultEntry, seed: int) -> None:
        self.run_models([entry.model], samples=1, seed=seed, mask=entry.mask)

    def _on_progress(self, job_id: int, model: str, fraction: float, message: str, preview) -> None:
        progress = self.window.progress
        progress.setValue(round(fraction * 1000))
        progress.setFormat(f"{model}: {message or f'{fraction:.0%}'}")
        if preview is not None:
            self.window.results.show_live(preview)

    def _on_model_finished(self, job_id: int, outcome: ModelOutcome) -> None:
        w = self.window
        mask = self._run_masks.get(job_id)
        if mask is None:
            return  # the run was for a photo that has been replaced since
        compare = job_id == self.compare_job
        if outcome.error:
            w.last_error = f"{outcome.model}: {outcome.error}"
            if compare:
                w.compare_grid.set_error(outcome.model, outcome.error)
            else:
                w.show_error(f"{outcome.model} could not complete the photo", outcome.error)
            return
        self._produced_results = True
        diverse = get_spec(outcome.model).info.diverse
        entries = [ResultEntry(result, mask, outcome.model, diverse) for result in outcome.results]
        if compare:
            w.compare_grid.set_result(outcome.model, outcome.results[0].image,
                                      outcome.metrics[0] if outcome.metrics else None)
        else:
            w.results.add(entries)  # previews the first one; applying is the user's choice

    def _on_job_finished(self, job_id: int, cancelled: bool) -> None:
        w = self.window
        self._run_masks.pop(job_id, None)
        w.progress.hide()
        w.results.show_live(None)
        if cancelled:
            w.statusBar().showMessage("Cancelled; the photo and mask are as they were.", 5000)
            if job_id == self.compare_job:
                w.compare_grid.mark_cancelled()
        elif job_id == self.compare_job:
            w.statusBar().showMessage("Comparison done: File ▸ Save comparison sheet saves the grid.", 8000)
        elif self._produced_results:
            w.statusBar().showMessage("Previewing the completion: double-click it or press Enter to apply it; "
                                      "hold Tab to see the original.", 8000)
        w.update_enabled()
        self.run_finished.emit(self._produced_results and not cancelled)
