"""The progress bars of `syncer sync`: pages without `/?` while the total is unknown, a rate,
and a bar that starts at a resumed pass's checkpoint."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from syncer.models import StreamStats
from syncer.report import Bars, _Pages


def test_pages_without_a_total_show_no_question_mark() -> None:
    progress = Progress(console=Console(record=True, width=100))
    task = progress.add_task("s", total=None, completed=7, records=7000)
    assert _Pages().render(progress.tasks[task]).plain == "7 pages"
    progress.update(task, total=50)
    assert _Pages().render(progress.tasks[task]).plain == "7/50 pages"


def test_a_resumed_pass_starts_its_bar_at_the_checkpoint() -> None:
    bars = Bars()
    bars.resumed("exto", "master:LOCATION", 12, 30)
    [task] = bars.progress.tasks
    assert task.completed == 30 and task.description == "exto/master:LOCATION"
    stats = StreamStats()
    stats.records = 1000
    bars.page("exto", "master:LOCATION", 31, 50, stats)
    assert task.completed == 31 and task.total == 50 and task.fields["records"] == 1000
