"""The trainer's progress line: log records land on lines of their own, the progress line is redrawn below them."""
import io
import logging

from trainer.progress import ERASE, ProgressLine


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _screen(raw: str) -> list[str]:
    """What a terminal shows: \\r returns to the line's start, ERASE clears it."""
    lines, current = [], ""
    i = 0
    while i < len(raw):
        if raw.startswith(ERASE, i):
            current, i = "", i + len(ERASE)
        elif raw[i] == "\r":
            current, i = "", i + 1
        elif raw[i] == "\n":
            lines.append(current)
            current, i = "", i + 1
        else:
            current, i = current + raw[i], i + 1
    return lines + ([current] if current else [])


def test_log_records_never_run_into_the_progress_line():
    stream = Terminal()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        bar = ProgressLine(True, stream=stream)
        bar.update("teacher step 10/20 ETA 0.1 min")
        logging.getLogger("trainer.fit").warning("step 10: validation L1 0.2")
        bar.update("teacher step 20/20 ETA 0.0 min", final=True)
        bar.close()
        logging.getLogger("trainer.fit").warning("after the run")
    finally:
        root.removeHandler(handler)
    assert _screen(stream.getvalue()) == ["WARNING trainer.fit: step 10: validation L1 0.2",
                                          "teacher step 20/20 ETA 0.0 min", "WARNING trainer.fit: after the run"]


def test_without_a_terminal_it_writes_whole_lines_and_the_last_one():
    stream = io.StringIO()
    bar = ProgressLine(True, stream=stream, every_s=3600)
    for step in range(1, 11):
        bar.update(f"step {step}/10", final=step == 10)
    bar.close()
    assert stream.getvalue() == "step 1/10\nstep 10/10\n"


def test_off_means_silent():
    stream = Terminal()
    bar = ProgressLine(False, stream=stream)
    bar.update("step 1/1", final=True)
    bar.close()
    assert stream.getvalue() == ""
