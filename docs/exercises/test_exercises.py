"""``pytest docs/exercises -k ex3``: your exercise 3 against its checker (``check.py``)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import check  # noqa: E402  (beside this file, which pytest does not put on the path)

EXERCISES = check.load("exercises")


@pytest.mark.parametrize("n", sorted(check.CHECKS), ids=lambda n: f"ex{n}")
def test_exercise(n):
    problem = check.run(n, EXERCISES)
    assert problem is None, problem
