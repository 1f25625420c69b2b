"""run_main: the one error policy of faceinpaint-inpaint, -eval, -train and the app's command line."""

from __future__ import annotations

import pytest

from engine import cli_eval, cli_inpaint
from engine.cli_common import run_main
from engine.device import select_device
from engine.errors import ConfigError, DeviceError, MaskError


def test_a_user_error_is_one_line_and_exit_2(capsys):
    def bad_input():
        raise MaskError("the mask is empty")

    assert run_main("prog", bad_input) == 2
    err = capsys.readouterr().err
    assert err == "prog: error: the mask is empty\n"


def test_ctrl_c_is_130_and_says_what_was_kept(capsys):
    def interrupted():
        raise KeyboardInterrupt

    assert run_main("prog", interrupted, interrupted="the last checkpoint stays") == 130
    assert capsys.readouterr().err == "prog: interrupted; the last checkpoint stays\n"


def test_anything_else_is_reported_as_a_bug_with_its_traceback(capsys):
    def broken():
        return {}["missing"]

    assert run_main("prog", broken) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("prog: internal error (KeyError: 'missing'); this is a bug")
    assert "Traceback" in err and "broken" in err


def test_success_passes_the_status_through():
    assert run_main("prog", lambda: None) == 0
    assert run_main("prog", lambda: 3) == 3


@pytest.mark.parametrize("cli, argv", [
    (cli_inpaint, ["photo.png", "--mask", "m.png", "-o", "out.png"]),
    (cli_eval, ["--data", "d", "--protocol", "center-block", "--models", "telea"]),
])
def test_every_command_line_goes_through_run_main(cli, argv, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run", lambda args: {}["boom"])
    assert cli.main(argv) == 1
    assert "this is a bug" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["training.cli", "faceinpaint_app.main"])
def test_the_training_and_app_commands_use_run_main_too(module, monkeypatch, capsys):
    cli = pytest.importorskip(module)
    monkeypatch.setattr(cli, "_main", lambda argv: {}["boom"])
    assert cli.main([]) == 1
    assert "this is a bug" in capsys.readouterr().err


def test_an_unknown_device_is_a_device_error():
    with pytest.raises(DeviceError, match="tpu"):
        select_device("tpu")


def test_errors_users_see_are_face_inpaint_errors_that_old_callers_still_catch():
    assert issubclass(ConfigError, ValueError) and issubclass(DeviceError, ValueError)
