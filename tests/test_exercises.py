"""Every exercise's checker passes its solution and fails its placeholder, so each checker can fail."""

import importlib.util
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "exercises"
spec = importlib.util.spec_from_file_location("exercise_checks", FOLDER / "check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.mark.parametrize("n", sorted(check.CHECKS), ids=lambda n: f"ex{n}")
def test_checker_passes_the_solution_and_fails_the_placeholder(n):
    assert check.run(n, check.load("solutions")) is None
    assert check.run(n, check.load("exercises")) is not None


def test_there_are_at_least_eight_and_the_command_line_says_which_fail(capsys):
    assert len(check.CHECKS) >= 8
    assert check.main(["--solutions"]) == 0
    assert check.main(["1", "9"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("ex1: FAILS") and lines[-1].startswith("ex9: FAILS")
