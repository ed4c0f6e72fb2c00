"""Every chapter runs unchanged on a GPU runtime (Colab's GPU, a laptop with CUDA).

``attnbook.get_device()`` picks CUDA whenever torch sees it, so on such a machine each chapter below
executes with the book's device set to CUDA, in a fresh kernel, exactly as the build runs it; a model
on the GPU fed a CPU tensor (or the reverse) fails the cell. Skipped where there is no CUDA device.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

from bookext.notebooks import book_config, execute_chapter

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device: torch.cuda.is_available() is False",
    ),
]


def _printed(notebook) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream"
    )


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_on_cuda(md: pathlib.Path) -> None:
    run = execute_chapter(
        md, ROOT, timeout=book_config(ROOT).get("execute", {}).get("timeout")
    )
    assert run.error is None, f"{md.name} failed on CUDA:\n{run.error}"
    assert "attnbook: using cuda" in _printed(run.notebook), (
        f"{md.name} did not run with the book's device on CUDA"
    )
