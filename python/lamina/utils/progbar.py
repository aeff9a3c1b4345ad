"""The progress bar of `fit`, `evaluate` and `predict`, in Keras 3's format:

    43/43 ━━━━━━━━━━━━━━━━━━━━ 1s 3ms/step - accuracy: 0.9100 - loss: 0.3012

On a terminal it redraws one line (bold counts, a green bar), as Keras does. When the output is
not a terminal (a log file, a pipe) it writes plain lines with no escape codes or backspaces: the
final line of each run, and at most one line every `log_interval` seconds before it.
"""
import math
import sys
import time

import numpy as np

__all__ = ["Progbar"]


def _format_time(seconds_per_unit, unit_name):
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f" {seconds_per_unit:.0f}s/{unit_name}"
    if seconds_per_unit >= 1e-3:
        return f" {seconds_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {seconds_per_unit * 1e6:.0f}us/{unit_name}"


def _format_value(v):
    return f" {v:.4f}" if abs(v) > 1e-3 else f" {v:.4e}"


class Progbar:
    """Displays progress over `target` steps.

    Args:
        target: number of steps, or None when unknown.
        width: width of the bar in characters.
        verbose: 1 (bar), 2 (one line at the end), 0 (silent).
        interval: minimum seconds between two redraws on a terminal.
        stateful_metrics: names whose values are shown as given (others are averaged over steps).
        stateless_metrics: instead of `stateful_metrics`, the names averaged over steps (all
            others shown as given); Keras 3's `ProgbarLogger` passes an empty set. A value shown
            as given is converted with float() (called first when callable) only when a line is
            drawn.
        unit_name: "step" or "sample".
        stream: where to write (default sys.stdout); `dynamic` forces terminal mode on or off.
        log_interval: seconds between plain lines when not on a terminal.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step", stream=None, dynamic=None, log_interval=10.0, stateless_metrics=None):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = None if stateless_metrics is not None else set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self.unit_name = unit_name
        self.stream = stream
        out = stream or sys.stdout
        self.dynamic = dynamic if dynamic is not None else bool(getattr(out, "isatty", lambda: False)())
        self.log_interval = log_interval
        self._values = {}
        self._order = []
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._last_plain_line = self._start
        self._after_first_step = None
        self._prev_width = 0

    def _write(self, text):
        out = self.stream or sys.stdout
        out.write(text)
        out.flush()

    def _step_time(self, current, now):
        if not current:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_unit = (now - self._after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_unit

    def _averages(self):
        out = []
        for k in self._order:
            total, count = self._values[k]
            if callable(total):  # a value computed when read (callbacks.Deferred)
                total = total()
            # a logged value with several entries (a metric with several thresholds) shows their
            # mean, as Keras's bar does
            total = float(total) if getattr(total, "ndim", 0) == 0 else float(np.mean(total))
            out.append((k, total / max(1, count)))
        return out

    def update(self, current, values=None, finalize=None):
        """Records step `current` with `values` [(name, value)] and redraws when due."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for k, v in values or []:
            if k not in self._order:
                self._order.append(k)
            if self.stateful_metrics is not None:
                stateless = k not in self.stateful_metrics
            else:
                stateless = k in self.stateless_metrics
            if not stateless:
                self._values[k] = [v, 1]  # converted when drawn
                continue
            v = float(v)
            if finalize:
                self._values[k] = [v, 1]
            else:
                n = max(current - self._seen, 1)
                total, count = self._values.get(k, [0.0, 0])
                self._values[k] = [total + v * n, count + n]
        self._seen = current
        now = time.time()
        per_unit = self._step_time(current, now)
        if self.verbose == 1:
            self._draw(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -" + \
                _format_time(per_unit, self.unit_name)
            for k, v in self._averages():
                line += f" - {k}:" + _format_value(v)
            self._write(line + "\n")
        self._last_update = now

    def _draw(self, current, now, per_unit, finalize):
        if self.dynamic and now - self._last_update < self.interval and not finalize:
            return
        if not self.dynamic and not finalize and now - self._last_plain_line < self.log_interval:
            return
        bold, green, white, reset = ("\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m") if self.dynamic else ("",) * 4
        if self.target:
            digits = int(math.log10(self.target)) + 1
            count = f"{current:{digits}d}/{self.target}"
            filled = int(self.width * min(current / self.target, 1.0))
            bar = f"{bold}{count}{reset} "
            if filled:
                bar += f"{green}{'━' * filled}{reset}"
            bar += f"{white}{'━' * (self.width - filled)}{reset}"
            plain_len = len(count) + 1 + self.width
        else:
            bar = f"{current:7d}/Unknown"
            plain_len = len(bar)
        if self.target and not finalize:
            eta = per_unit * (self.target - current)
            if eta > 3600:
                eta_text = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                eta_text = f"{int(eta)}s"
        else:
            eta_text = f"{now - self._start:.0f}s"
        info = f" {bold}{eta_text}{reset}" + _format_time(per_unit, self.unit_name)
        plain_info = f" {eta_text}" + _format_time(per_unit, self.unit_name)
        for k, v in self._averages():
            part = f" - {k}:" + _format_value(v)
            info += part
            plain_info += part
        width = plain_len + len(plain_info)
        if self.dynamic:
            text = "\b" * self._prev_width + "\r" + bar + info
            if self._prev_width > width:
                text += " " * (self._prev_width - width)
            if finalize:
                text += "\n"
            self._write(text)
            self._prev_width = width
        else:
            self._write(bar + info + "\n")
            self._last_plain_line = now
