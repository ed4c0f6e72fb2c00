"""The live training plot of :func:`attnbook.train.train`: loss and accuracy, redrawn in place in a notebook.

matplotlib is imported when the plot is first drawn, not with this module.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnbook.train import History

__all__ = ["LivePlot"]


class LivePlot:
    """Loss and accuracy curves, redrawn in place in a notebook (one display, updated a few times).

    Each redraw renders a PNG (about 0.1-0.2 s on a laptop CPU), so it happens
    at the end of every epoch and about four times in between, not every step.
    """

    def __init__(
        self, title: str, valid_name: str, total: int, batches_per_epoch: int
    ) -> None:
        self.title, self.valid_name, self.total, self.per_epoch = (
            title,
            valid_name,
            total,
            batches_per_epoch,
        )
        self.handle = None

    def update(self, history: History) -> None:
        from IPython.display import Image, display

        # not pyplot: the figure must not also be shown at the cell's end
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7.6, 2.6))
        fig.subplots_adjust(
            left=0.09, right=0.98, bottom=0.19, top=0.88, wspace=0.28
        )  # cheaper than a layout engine
        ax_loss, ax_acc = fig.subplots(1, 2)
        x = range(1, len(history.batch_loss) + 1)
        ax_loss.plot(x, history.batch_loss, color="#0072B2", linewidth=1)
        ax_loss.set(
            xlabel="mini-batch",
            ylabel="loss per target",
            xlim=(0, self.total),
            yscale="log",
        )
        ax_acc.plot(
            x,
            history.batch_accuracy,
            color="#0072B2",
            linewidth=1,
            label="training tokens",
        )
        if history.valid:
            ends = [self.per_epoch * (e + 1) for e in range(len(history.valid))]
            ax_acc.plot(
                ends,
                history.valid,
                "s-",
                color="#D55E00",
                markersize=5,
                label=f"{self.valid_name} (end of epoch)",
            )
        ax_acc.set(
            xlabel="mini-batch",
            ylabel="accuracy",
            xlim=(0, self.total),
            ylim=(0, 1.02),
        )
        ax_acc.legend(loc="lower right", fontsize=8)
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
        fig.suptitle(self.title, fontsize=10)
        buffer = io.BytesIO()
        # a PNG whatever matplotlib backend the kernel uses
        fig.savefig(buffer, format="png", dpi=96)
        image = Image(data=buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
