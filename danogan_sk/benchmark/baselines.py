"""The thesis's GAN baselines PyOD lacks, built from this package's network blocks.

* :class:`FAnoGAN` (Schlegl et al. 2019): one WGAN-GP generator, then an
  encoder trained "izi_f" (image and critic-feature residuals of
  ``G(E(x))``) with G and D frozen; score = image MSE + ``kappa`` * feature MSE.
* :class:`GANomaly` (Akcay et al. 2018): encoder-decoder-encoder generator and
  a discriminator; score = squared distance between the two latent codes.

Both are small (``base_channels=16``) so they train on a CPU, use
``NetworkSpec(n_generators=1)`` with :class:`~danogan_sk.nn.ConvGenerator`,
:class:`~danogan_sk.nn.ConvEncoder` and :class:`~danogan_sk.nn.ConvCritic`,
and draw every random number from a local ``torch.Generator``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..nn import ConvCritic, ConvEncoder, ConvGenerator, NetworkSpec, build_local
from ..losses import critic_loss
from ..scoring import in_chunks
from ..training import shuffled_batches

__all__ = ["FAnoGAN", "GANomaly", "build_seeded"]


def build_seeded(cls: type[nn.Module], spec: NetworkSpec, generator: torch.Generator) -> nn.Module:
    """``cls(spec)`` with PyTorch's default initialisation drawn from ``generator``.

    Torch's global random state is neither used nor changed (see
    :func:`danogan_sk.nn.build_local`).
    """
    return build_local(lambda: cls(spec), generator)


def _scaled(X: np.ndarray) -> Tensor:
    """Images in [0, 1] -> float32 tensor in the generators' [-1, 1]."""
    return torch.as_tensor(np.asarray(X, dtype=np.float32) * 2.0 - 1.0)


def _per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).pow(2).flatten(1).mean(1)


def _chunked(fn, X: Tensor, size: int = 512) -> np.ndarray:
    """``fn`` over row chunks of ``X``, concatenated as float64."""
    return np.concatenate([out.double().numpy() for out in in_chunks(fn, X, size)])


class _ConvBaseline:
    """Shared settings and bookkeeping of the two GAN baselines."""

    def __init__(
        self,
        seed: int = 0,
        epochs: int = 5,
        latent_dim: int = 32,
        base_channels: int = 16,
        batch_size: int = 64,
        lr: float = 2e-4,
    ) -> None:
        self.seed = seed
        self.epochs = epochs
        self.latent_dim = latent_dim
        self.base_channels = base_channels
        self.batch_size = batch_size
        self.lr = lr

    def _spec(self, X: np.ndarray) -> NetworkSpec:
        return NetworkSpec(
            input_shape=tuple(int(s) for s in X.shape[1:]),
            n_generators=1,
            latent_dim=self.latent_dim,
            base_channels=self.base_channels,
            max_channels=8 * self.base_channels,
        )

    def _start(self, X: np.ndarray) -> tuple[torch.Generator, NetworkSpec, Tensor]:
        """The fit's local random generator, the networks' spec and the data in [-1, 1]."""
        return torch.Generator().manual_seed(self.seed), self._spec(X), _scaled(X)

    def record_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


class FAnoGAN(_ConvBaseline):
    """f-AnoGAN: WGAN-GP, then an izi_f encoder; score = image MSE + kappa * feature MSE.

    Parameters
    ----------
    seed, epochs, latent_dim, base_channels, batch_size, lr
        Seed of the local generator; epochs of the WGAN and again of the
        encoder; network sizes; Adam learning rate.
    n_critic : int, default=5
        Critic steps per generator step.
    gp_weight : float, default=10.0
        Gradient penalty weight (the package's one-sided penalty).
    kappa : float, default=1.0
        Weight of the critic-feature residual, in training and in the score.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    >>> FAnoGAN(epochs=1).fit(X).anomaly_score(X[:3]).shape
    (3,)
    """

    def __init__(self, seed: int = 0, epochs: int = 5, n_critic: int = 5,
                 gp_weight: float = 10.0, kappa: float = 1.0, **kwargs) -> None:
        super().__init__(seed, epochs, **kwargs)
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.kappa = kappa

    def fit(self, X: np.ndarray) -> "FAnoGAN":
        generator, spec, data = self._start(X)
        self.generator_ = build_seeded(ConvGenerator, spec, generator)
        self.critic_ = build_seeded(ConvCritic, spec, generator)
        self.encoder_ = build_seeded(ConvEncoder, spec, generator)
        self._train_wgan(data, generator)
        self._train_encoder(data, generator)
        return self

    def _train_wgan(self, data: Tensor, generator: torch.Generator) -> None:
        opt_g = torch.optim.Adam(self.generator_.parameters(), self.lr, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(self.critic_.parameters(), self.lr, betas=(0.5, 0.9))
        step = 0
        for _ in range(self.epochs):
            for rows in shuffled_batches(len(data), self.batch_size, generator):
                z = torch.rand(len(rows), self.latent_dim, generator=generator) * 2 - 1
                fake = self.generator_(z)
                loss_d, *_ = critic_loss(self.critic_, data[rows], fake.detach(), self.gp_weight, generator)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                if step % self.n_critic == 0:
                    loss_g = -self.critic_(fake)[0].mean()
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                step += 1

    def _train_encoder(self, data: Tensor, generator: torch.Generator) -> None:
        for frozen in (self.generator_, self.critic_):
            frozen.requires_grad_(False).eval()
        optimizer = torch.optim.Adam(self.encoder_.parameters(), self.lr, betas=(0.5, 0.9))
        for _ in range(self.epochs):
            for rows in shuffled_batches(len(data), self.batch_size, generator):
                loss = self._residuals(data[rows]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        self.encoder_.eval()

    def _residuals(self, x: Tensor) -> Tensor:
        """Per-sample ``mse(x, G(E(x))) + kappa * mse(f(x), f(G(E(x))))`` (izi_f)."""
        reconstruction = self.generator_(self.encoder_(x))
        features = self.critic_(torch.cat([x, reconstruction]))[1]
        real, fake = features.split(len(x))
        return _per_sample_mse(x, reconstruction) + self.kappa * _per_sample_mse(real, fake)

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return _chunked(self._residuals, _scaled(X))


class GANomaly(_ConvBaseline):
    """GANomaly: x -> z -> x_hat -> z_hat; score = mean (z - z_hat)^2.

    Parameters
    ----------
    seed, epochs, latent_dim, base_channels, batch_size, lr
        As in :class:`FAnoGAN`.
    w_adv, w_con, w_enc : float, default=1, 50, 1
        Weights of the feature-matching adversarial, L1 reconstruction and
        latent losses (the paper's defaults).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    >>> GANomaly(epochs=1).fit(X).anomaly_score(X[:3]).shape
    (3,)
    """

    def __init__(self, seed: int = 0, epochs: int = 5, w_adv: float = 1.0,
                 w_con: float = 50.0, w_enc: float = 1.0, **kwargs) -> None:
        super().__init__(seed, epochs, **kwargs)
        self.w_adv = w_adv
        self.w_con = w_con
        self.w_enc = w_enc

    def fit(self, X: np.ndarray) -> "GANomaly":
        generator, spec, data = self._start(X)
        self.encoder_ = build_seeded(ConvEncoder, spec, generator)
        self.decoder_ = build_seeded(ConvGenerator, spec, generator)
        self.encoder2_ = build_seeded(ConvEncoder, spec, generator)
        self.discriminator_ = build_seeded(ConvCritic, spec, generator)
        parts = [self.encoder_, self.decoder_, self.encoder2_]
        opt_g = torch.optim.Adam([p for m in parts for p in m.parameters()], self.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator_.parameters(), self.lr, betas=(0.5, 0.999))
        for _ in range(self.epochs):
            for rows in shuffled_batches(len(data), self.batch_size, generator):
                self._step(data[rows], opt_g, opt_d)
        for part in parts:
            part.eval()
        return self

    def _step(self, x: Tensor, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer) -> None:
        z = self.encoder_(x)
        x_hat = self.decoder_(z)
        z_hat = self.encoder2_(x_hat)
        features_real = self.discriminator_(x)[1].detach()
        loss_g = (
            self.w_adv * F.mse_loss(self.discriminator_(x_hat)[1], features_real)
            + self.w_con * F.l1_loss(x_hat, x)
            + self.w_enc * F.mse_loss(z_hat, z)
        )
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        logits, _ = self.discriminator_(torch.cat([x, x_hat.detach()]))
        target = torch.cat([torch.ones(len(x)), torch.zeros(len(x))])
        loss_d = F.binary_cross_entropy_with_logits(logits, target)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    def _latent_distance(self, x: Tensor) -> Tensor:
        z = self.encoder_(x)
        return _per_sample_mse(z, self.encoder2_(self.decoder_(z)))

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return _chunked(self._latent_distance, _scaled(X))
