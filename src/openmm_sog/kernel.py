"""Sum-of-Gaussians (SOG) kernels: g_c(r) = sum_l w_{c,l} exp(-r^2 / sigma_{c,l}^2).

Units are whatever the caller uses consistently; on the torch side that is Angstrom for the
widths and distances, and eV/e^2 for the weights (so that q_i q_j g(r) is in eV).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["CoulombSOGKernel", "SOGKernel"]


def _as_channel_matrix(values: Tensor, name: str) -> Tensor:
    if values.dim() == 1:
        values = values.unsqueeze(0)
    if values.dim() != 2 or values.shape[1] == 0:
        raise ValueError(
            f"{name} must have shape [M] or [P, M] with M >= 1, got {list(values.shape)}"
        )
    return values


class SOGKernel(nn.Module):
    """Per-channel sum of Gaussians with learnable amplitudes and widths.

    g_c(r) = sum_l w_{c,l} exp(-r^2 / sigma_{c,l}^2)  and its Fourier transform
    ghat_c(k) = sum_l w_{c,l} pi^{3/2} sigma_{c,l}^3 exp(-sigma_{c,l}^2 k^2 / 4).

    :param weights: amplitudes w, shape ``[M]`` (one channel) or ``[P, M]``; energy/charge^2.
    :param widths: widths sigma > 0, same shape as ``weights``; length. Stored as log-widths so
        that they stay positive under training.
    :param learnable: whether amplitudes and widths are ``nn.Parameter``s.
    """

    def __init__(self, weights: Tensor, widths: Tensor, learnable: bool = True) -> None:
        super().__init__()
        weights = _as_channel_matrix(torch.as_tensor(weights), "weights")
        widths = _as_channel_matrix(torch.as_tensor(widths), "widths")
        if weights.shape != widths.shape:
            raise ValueError(
                f"weights and widths must have the same shape, got {list(weights.shape)} "
                f"and {list(widths.shape)}"
            )
        if not weights.is_floating_point() or not widths.is_floating_point():
            raise ValueError("weights and widths must be floating-point tensors")
        if not bool(torch.isfinite(weights).all()) or not bool(torch.isfinite(widths).all()):
            raise ValueError("weights and widths must be finite")
        if bool((widths <= 0).any()):
            raise ValueError(f"widths must be > 0, got minimum {float(widths.min())}")
        log_widths = widths.log()
        if learnable:
            self.weights = nn.Parameter(weights.clone())
            self.log_widths = nn.Parameter(log_widths)
        else:
            self.register_buffer("weights", weights.clone())
            self.register_buffer("log_widths", log_widths)

    @property
    def num_channels(self) -> int:
        """Number of channels P."""
        return int(self.weights.shape[0])

    @property
    def num_gaussians(self) -> int:
        """Number of Gaussians per channel M."""
        return int(self.weights.shape[1])

    def widths(self) -> Tensor:
        """Widths sigma, ``[P, M]``; length."""
        return self.log_widths.exp()

    def forward(self, distances: Tensor) -> Tensor:
        """Real-space kernel g(r), ``[...] -> [..., P]``."""
        return self.value(distances)

    def masked_weights(self, mask: Tensor | None = None) -> Tensor:
        """Amplitudes ``[P, M]`` with the Gaussians outside ``mask`` (bool ``[P, M]``) zeroed."""
        if mask is None:
            return self.weights
        return self.weights * mask.to(self.weights.dtype)

    def _selected(self, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Masked amplitudes and log-widths ``[P, M']`` of the Gaussians some channel uses."""
        weights = self.masked_weights(mask)
        log_widths = self.log_widths
        if mask is not None:
            used = mask.any(0)
            weights = weights[:, used]
            log_widths = log_widths[:, used]
        return weights, log_widths

    def value(self, distances: Tensor, mask: Tensor | None = None) -> Tensor:
        """Real-space kernel g(r), ``[...] -> [..., P]``; energy/charge^2.

        :param mask: bool ``[P, M]``: sum only these Gaussians (all by default).
        """
        return self.value_of_squared(distances * distances, mask)

    def value_of_squared(self, squared_distances: Tensor, mask: Tensor | None = None) -> Tensor:
        """g as a function of r^2 (length^2), ``[...] -> [..., P]``; energy/charge^2: pair
        sums need no square root (nor its derivative, singular at r = 0). ``mask`` as in
        :meth:`value`."""
        weights, log_widths = self._selected(mask)
        num_channels, num_gaussians = weights.shape
        minus_inv_sq = -(-2.0 * log_widths).exp().reshape(-1)  # -1/sigma^2, [P M]
        # Every Gaussian of every channel side by side, [..., P M], then summed per channel by
        # one product with the weights placed block-diagonally, [P M, P]: reductions over a
        # few Gaussians in the innermost dimension cost twice as much (CPU, 400k pairs).
        blocks = torch.eye(num_channels, dtype=weights.dtype, device=weights.device)
        blocks = blocks.repeat_interleave(num_gaussians, 0) * weights.reshape(-1, 1)
        return torch.exp(squared_distances.unsqueeze(-1) * minus_inv_sq) @ blocks

    def fourier(self, k_sq: Tensor, k_sq_min: float = 0.0, mask: Tensor | None = None) -> Tensor:
        """Fourier transform ghat(k) from |k|^2, ``[...] -> [..., P]``; energy*length^3/charge^2.

        :param k_sq_min: a lower bound on the |k|^2 asked for; Gaussians so wide that
            sigma^2 k_sq_min / 4 > 50 everywhere (contributing below e^-50 of their weight
            sigma^3 w) are skipped, which matters for very wide Coulomb tails.
        :param mask: bool ``[P, M]``: sum only these Gaussians (all by default).
        """
        weights, log_widths = self._selected(mask)
        sigma = log_widths.exp()
        if k_sq_min > 0.0:
            keep = (0.25 * k_sq_min * sigma.detach() ** 2 <= 50.0).any(0)
            sigma = sigma[:, keep]
            weights = weights[:, keep]
        amplitude = weights * (math.pi**1.5) * sigma**3
        exponent = -0.25 * k_sq.unsqueeze(-1).unsqueeze(-1) * (sigma * sigma)
        return (amplitude * torch.exp(exponent)).sum(-1)

    def value_at_zero(self, mask: Tensor | None = None) -> Tensor:
        """g(0) = sum_l w_l per channel, ``[P]``; over the Gaussians in ``mask`` if given."""
        return self.masked_weights(mask).sum(-1)

    def fourier_at_zero(self, mask: Tensor | None = None) -> Tensor:
        """ghat(0) = sum_l w_l pi^{3/2} sigma_l^3 per channel, ``[P]``; ``mask`` as above."""
        return (self.masked_weights(mask) * (math.pi**1.5) * self.widths() ** 3).sum(-1)

    def smallest_width(self, mask: Tensor | None = None) -> Tensor:
        """Smallest width among Gaussians with a non-zero weight (in ``mask``), the smallest
        of all if none has one; a 0-dim tensor on the kernel's device (no read by the host);
        length."""
        sigma = self.widths().detach()
        used = self.masked_weights(mask).detach() != 0
        smallest_used = torch.where(used, sigma, torch.full_like(sigma, float("inf"))).amin()
        return torch.where(torch.isfinite(smallest_used), smallest_used, sigma.amin())

    def min_width(self, mask: Tensor | None = None) -> float:
        """:meth:`smallest_width` as a number; length."""
        return float(self.smallest_width(mask))

    @staticmethod
    def coulomb(
        prefactor: float,
        cutoff: float,
        tolerance: float = 1e-6,
        dtype: torch.dtype = torch.float64,
        learnable: bool = False,
    ) -> CoulombSOGKernel:
        """Long-range Gaussians of a sum-of-Gaussians expansion of ``prefactor / r``.

        See :class:`CoulombSOGKernel`.
        """
        return CoulombSOGKernel(prefactor, cutoff, tolerance, dtype=dtype, learnable=learnable)


def coulomb_sog_parameters(
    prefactor: float, cutoff: float, tolerance: float
) -> tuple[list[float], list[float]]:
    """Weights and widths of the long-range part of the bilateral series for 1/r.

    1/r = 2/sqrt(pi) int exp(-r^2 e^{2t} + t) dt; the trapezoidal rule with step h gives
    Gaussians of width sigma_j = e^{-t_j} and weight 2 h / (sqrt(pi) sigma_j) whose relative
    error oscillates with amplitude about 2 sqrt(2) exp(-pi^2 / (2 h)). Gaussians narrower
    than needed beyond ``cutoff`` go to the real-space complement; the widest kept one is so
    wide that the rest only changes g(0) by less than the tolerance.

    :param prefactor: Coulomb constant in the caller's units (energy*length/charge^2).
    :param cutoff: real-space cutoff r_c (length) beyond which the complement is negligible.
    :param tolerance: relative accuracy of the expansion beyond r_c.
    :return: ``(weights, widths)`` lists, widths increasing.
    """
    if not 1e-10 < tolerance < 1e-1:
        raise ValueError(f"tolerance must lie in (1e-10, 1e-1), got {tolerance}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    target = 0.1 * tolerance
    step = math.pi**2 / (2.0 * math.log(2.0 * math.sqrt(2.0) / target))
    ratio = math.exp(step)
    weight_of = 2.0 * step / math.sqrt(math.pi)  # times 1/sigma
    # Narrowest kept width: the widest cut for which all narrower Gaussians of the series sum
    # to < target/r_c at r_c (they form the real-space complement).
    sigma = cutoff * 1e-2
    excluded = 0.0  # sum over the series' Gaussians narrower than sigma, evaluated at r_c
    while True:
        term = weight_of / sigma * math.exp(-((cutoff / sigma) ** 2))
        if (excluded + term) * cutoff > target:
            break
        excluded += term
        sigma *= ratio
    widths = []
    # Widest: the remaining tail sum_j w_j (a pure self-energy shift) must be < target/r_c.
    tail_factor = weight_of / (1.0 - 1.0 / ratio)
    while True:
        widths.append(sigma)
        if tail_factor / (sigma * ratio) * cutoff < target:
            break
        sigma *= ratio
    weights = [prefactor * weight_of / s for s in widths]
    return weights, widths


class CoulombSOGKernel(SOGKernel):
    """Long-range part of ``prefactor / r`` as a sum of Gaussians, with its real-space complement.

    ``prefactor / r = value(r) + short_range(r)`` where ``short_range`` is smaller than
    ``tolerance * prefactor / cutoff`` beyond ``cutoff``, so that the long-range Gaussians in
    k-space plus ``short_range`` in real space within ``cutoff`` reproduce Coulomb (Ewald) to
    ``tolerance``.

    :param prefactor: Coulomb constant, energy*length/charge^2 (14.3996 eV*A/e^2 on the torch
        side, 138.935 kJ/mol*nm/e^2 on the OpenMM side).
    :param cutoff: real-space cutoff; length.
    :param tolerance: relative accuracy of the split.
    """

    def __init__(
        self,
        prefactor: float,
        cutoff: float,
        tolerance: float = 1e-6,
        dtype: torch.dtype = torch.float64,
        learnable: bool = False,
    ) -> None:
        weights, widths = coulomb_sog_parameters(prefactor, cutoff, tolerance)
        super().__init__(
            torch.tensor(weights, dtype=dtype),
            torch.tensor(widths, dtype=dtype),
            learnable=learnable,
        )
        self.prefactor = float(prefactor)
        self.cutoff = float(cutoff)
        self.tolerance = float(tolerance)

    def short_range(self, distances: Tensor) -> Tensor:
        """Real-space complement ``prefactor / r - g(r)`` (one channel), ``[...] -> [...]``."""
        return self.prefactor / distances - self.value(distances)[..., 0]
