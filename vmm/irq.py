"""Interrupt request lines from devices to the interrupt controller."""

from __future__ import annotations


class IrqLine:
    """One IRQ line. A device drives its level; the controller listens.

    Until a controller is connected (connect()), levels are only recorded.
    """

    def __init__(self, number: int):
        self.number = number
        self.level = False
        self.raised = 0          # low→high transitions, for metrics
        self._listener = None

    def connect(self, listener):
        """listener(number, level) is called on every change of level."""
        self._listener = listener

    def set_level(self, level: bool):
        if level == self.level:
            return
        self.level = level
        if level:
            self.raised += 1
        if self._listener is not None:
            self._listener(self.number, level)
