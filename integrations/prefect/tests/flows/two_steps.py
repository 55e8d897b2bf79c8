"""Two captured tasks: one writes a file, the next reads it and writes another."""

from __future__ import annotations

from pathlib import Path

from tracline_prefect import flow, task


@task
def write(folder: str) -> str:
    path = Path(folder) / "numbers.txt"
    path.write_text("\n".join(str(i) for i in range(100)))
    return str(path)


@task
def total(numbers: str) -> str:
    path = Path(numbers).with_name("total.txt")
    path.write_text(str(sum(int(n) for n in Path(numbers).read_text().split())))
    return str(path)


@flow
def two_steps(folder: str) -> str:
    """Write, then sum."""
    return total(write(folder))
