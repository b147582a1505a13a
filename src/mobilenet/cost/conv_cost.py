"""A standard convolution against a depthwise separable one (V1 paper §3.1, eq. 1-5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvCost:
    """Cost of one layer with kernel K, M input and N output channels, on an F x F output map."""

    kernel: int
    in_channels: int
    out_channels: int
    size: int

    @property
    def standard_macs(self) -> int:
        """Eq. (2): K*K*M*N*F*F."""
        k, m, n, f = self.kernel, self.in_channels, self.out_channels, self.size
        return k * k * m * n * f * f

    @property
    def separable_macs(self) -> int:
        """Eq. (4): K*K*M*F*F (depthwise) + M*N*F*F (pointwise)."""
        k, m, n, f = self.kernel, self.in_channels, self.out_channels, self.size
        return k * k * m * f * f + m * n * f * f

    @property
    def standard_params(self) -> int:
        return self.kernel**2 * self.in_channels * self.out_channels

    @property
    def separable_params(self) -> int:
        return self.kernel**2 * self.in_channels + self.in_channels * self.out_channels

    @property
    def ratio(self) -> float:
        """Eq. (5): separable / standard = 1/N + 1/K^2."""
        return self.separable_macs / self.standard_macs


def conv_cost(in_channels: int, out_channels: int, kernel: int, size: int) -> ConvCost:
    """Validate and build a ``ConvCost``; every argument must be a positive integer."""
    for name, value in (("in", in_channels), ("out", out_channels), ("kernel", kernel), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value!r}")
    return ConvCost(kernel, in_channels, out_channels, size)
