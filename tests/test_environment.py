"""`rheumabook.book.environment`: variables set for a block and put back afterwards, also after an error."""
from __future__ import annotations

import os

import pytest

from rheumabook.book.environment import environment

NAME = "RHEUMABOOK_TEST_ENVIRONMENT"


def test_an_unset_variable_is_set_inside_and_unset_after(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    with environment(**{NAME: "inside"}):
        assert os.environ[NAME] == "inside"
    assert NAME not in os.environ


def test_a_set_variable_gets_its_old_value_back_after_an_error(monkeypatch):
    monkeypatch.setenv(NAME, "before")
    with pytest.raises(RuntimeError, match="in the block"):
        with environment(**{NAME: "inside"}):
            assert os.environ[NAME] == "inside"
            raise RuntimeError("in the block")
    assert os.environ[NAME] == "before"


def test_the_smoke_run_and_the_runner_share_it():
    """One helper for the job: neither module keeps its own copy of the set-and-restore."""
    from rheumabook.book import runner, smoke

    assert runner.environment is environment and smoke.environment is environment
    assert not hasattr(runner, "_environment")
