"""rag/handoff.py: `rag index` hands its build to the running process that serves the index."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from filelock import FileLock

from rag.config import ChunkSettings, EmbedderSettings, Settings
from rag.handoff import BuildService, HandoffError, build_in_running_process, socket_path
from rag.stores import IndexBusyError, location_key
from rag.stores.local import read_manifest


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("خبر أول عن الزيتون في الجنوب.", encoding="utf-8")
    (seeds / "b.txt").write_text("خبر ثان عن الموانئ والسفن.", encoding="utf-8")
    return Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        embedder=EmbedderSettings(model="fake-embedder"),
        chunking=ChunkSettings(max_tokens=20, overlap_tokens=2),
    )


@pytest.fixture
def service(settings: Settings, fake_embedder):
    running = BuildService(settings, fake_embedder)
    assert running.start()
    yield running
    running.stop()


def test_the_running_service_builds_with_its_own_embedder(settings, service, fake_embedder):
    accepted = []
    report = build_in_running_process(settings, on_accept=accepted.append, show_progress=False)
    assert accepted == [os.getpid()]
    assert report is not None and report.built and report.added == 2
    assert fake_embedder.documents_encoded == report.embedded == report.chunks > 0
    assert set(read_manifest(settings.index_dir).articles) == {"a.txt", "b.txt"}
    (settings.seeds_dir / "a.txt").write_text("خبر أول معدل عن الزيتون.", encoding="utf-8")
    report = build_in_running_process(settings, show_progress=False)
    assert report is not None and (report.updated, report.unchanged) == (1, 1)


def test_a_request_is_accepted_then_reports_progress_then_the_report(settings, service):
    messages: list[dict] = []
    service.serve({"settings": settings.model_dump(mode="json"), "rebuild": False, "wait": True}, messages.append)
    assert messages[0] == {"accepted": os.getpid()}
    progress = [m["progress"] for m in messages[1:-1]]
    assert progress and progress[-1][0] == progress[-1][1] == messages[-1]["report"]["embedded"]


def test_the_clients_settings_govern_the_build(settings, service, tmp_path):
    other_seeds = tmp_path / "other-seeds"
    other_seeds.mkdir()
    (other_seeds / "c.txt").write_text("خبر ثالث عن القطارات.", encoding="utf-8")
    report = build_in_running_process(settings.model_copy(update={"seeds_dir": other_seeds}), show_progress=False)
    assert report is not None and report.articles == 1
    assert set(read_manifest(settings.index_dir).articles) == {"c.txt"}


def test_without_a_running_process_the_client_builds_itself(settings):
    assert build_in_running_process(settings) is None


def test_a_different_embedder_configuration_is_declined(settings, service, fake_embedder):
    other = settings.model_copy(update={"embedder": EmbedderSettings(model="another-embedder")})
    assert build_in_running_process(other) is None
    assert fake_embedder.documents_encoded == 0


def test_busy_index_with_no_wait_raises(settings, service):
    settings.index_dir.mkdir()
    with FileLock(str(settings.index_dir / ".lock")), pytest.raises(IndexBusyError):
        build_in_running_process(settings, wait=False)


def test_a_socket_left_by_a_dead_process_is_ignored_then_replaced(settings, fake_embedder):
    path = socket_path(location_key(settings))
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound but never listening, as after a crash
    dead.close()
    try:
        assert build_in_running_process(settings) is None
        service = BuildService(settings, fake_embedder)
        assert service.start()
        service.stop()
        assert not path.exists()
    finally:
        path.unlink(missing_ok=True)


def test_one_service_per_index_and_only_its_user_can_connect(settings, service, fake_embedder):
    assert not BuildService(settings, fake_embedder).start()
    assert stat.S_IMODE(service.path.stat().st_mode) & 0o077 == 0


def test_rebuild_is_passed_on(settings, service, fake_embedder):
    build_in_running_process(settings, show_progress=False)
    report = build_in_running_process(settings, rebuild=True, show_progress=False)
    assert report is not None and report.reason == "--rebuild" and report.embedded == report.chunks


def test_an_unreadable_request_is_declined(service):
    messages: list[dict] = []
    service.serve({"settings": {"chunking": {"max_tokens": -5}}, "rebuild": False, "wait": True}, messages.append)
    assert len(messages) == 1 and "unreadable request" in messages[0]["declined"]


def test_a_build_that_fails_over_there_fails_here_with_its_message(settings, service, tmp_path):
    missing = settings.model_copy(update={"seeds_dir": tmp_path / "no-such-folder"})
    with pytest.raises(HandoffError, match="FileNotFoundError"):
        build_in_running_process(missing, show_progress=False)
