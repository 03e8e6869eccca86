"""Atomic writers: a reader finds the whole result or nothing."""

from __future__ import annotations

import pytest

from sim.logs.atomic import atomic_directory, write_text


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.txt"
    write_text("old", target)

    def failing(path):
        path.write_text("half", encoding="utf-8")
        raise RuntimeError("crash while writing")

    from sim.logs.atomic import write_atomically

    with pytest.raises(RuntimeError):
        write_atomically(target, failing)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_directory_appears_only_when_complete(tmp_path):
    target = tmp_path / "run"
    with atomic_directory(target) as building:
        (building / "a.txt").write_text("a", encoding="utf-8")
        assert not target.exists()
    assert (target / "a.txt").read_text(encoding="utf-8") == "a"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_directory_leaves_nothing(tmp_path, error):
    target = tmp_path / "run"
    with pytest.raises(error), atomic_directory(target) as building:
        (building / "a.txt").write_text("a", encoding="utf-8")
        raise error()
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_directory_is_never_replaced(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "keep.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(FileExistsError), atomic_directory(target):
        pass
    assert (target / "keep.txt").exists()
