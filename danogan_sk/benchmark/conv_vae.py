"""A convolutional VAE baseline, trained with skorch.

A VAE has one loss and one optimizer, the case skorch's ``NeuralNet`` is
built for (the GAN baselines, with two or more optimizers stepping in turn,
are plain torch loops in :mod:`.baselines`). The encoder body is
:class:`~danogan_sk.nn.ConvEncoder`'s convolutions with two linear heads (mean
and log-variance; the encoder's own tanh head would bound the variance), the
decoder is :class:`~danogan_sk.nn.ConvGenerator`.

Score: the negative ELBO at the posterior mean, ``||x - D(mu)||^2 + KL(q(z|x) || N(0, I))``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..nn import ConvEncoder, ConvGenerator, NetworkSpec, build_local

__all__ = ["ConvVAEModel"]


class ConvVAEModule(nn.Module):
    """``x -> (reconstruction, mu, logvar)``; sampled ``z`` in training, ``mu`` in eval mode."""

    def __init__(self, input_shape: tuple[int, ...], latent_dim: int = 16,
                 base_channels: int = 16, seed: int = 0) -> None:
        super().__init__()
        spec = NetworkSpec(tuple(input_shape), n_generators=1, latent_dim=latent_dim,
                           base_channels=base_channels, max_channels=8 * base_channels)
        def parts() -> nn.ModuleList:
            encoder = ConvEncoder(spec)
            hidden = encoder.dense.in_features
            return nn.ModuleList([encoder.features, nn.Linear(hidden, latent_dim),
                                  nn.Linear(hidden, latent_dim), ConvGenerator(spec)])

        # Initialised from a local generator: torch's global random state is never used.
        built = build_local(parts, torch.Generator().manual_seed(seed))
        self.body, self.mu, self.logvar, self.decoder = built
        self.noise = torch.Generator().manual_seed(seed + 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hidden = self.body(x).flatten(1)
        mu, logvar = self.mu(hidden), self.logvar(hidden).clamp(-10.0, 10.0)
        z = mu
        if self.training:
            z = mu + torch.randn(mu.shape, generator=self.noise) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def negative_elbo(reconstruction: Tensor, mu: Tensor, logvar: Tensor, x: Tensor) -> Tensor:
    """Per-sample ``||x - x_hat||^2 + KL(N(mu, exp(logvar)) || N(0, I))``."""
    error = (x - reconstruction).pow(2).flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return error + kl


def _vae_net_class():
    """skorch's ``NeuralNet`` with the ELBO as its loss (skorch imported lazily)."""
    from skorch import NeuralNet

    class VAENet(NeuralNet):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return negative_elbo(*y_pred, X).mean()

    return VAENet


class ConvVAEModel:
    """Convolutional VAE (skorch) for the benchmark.

    Parameters
    ----------
    seed : int
        Seed of the weights, the sampling noise and the batch order.
    epochs : int
        Training epochs.
    latent_dim, base_channels, batch_size, lr
        Size of the latent code and of the convolutions; Adam settings.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    >>> ConvVAEModel(epochs=1).fit(X).anomaly_score(X[:3]).shape
    (3,)
    """

    def __init__(self, seed: int = 0, epochs: int = 5, latent_dim: int = 16,
                 base_channels: int = 16, batch_size: int = 64, lr: float = 1e-3) -> None:
        self.seed = seed
        self.epochs = epochs
        self.latent_dim = latent_dim
        self.base_channels = base_channels
        self.batch_size = batch_size
        self.lr = lr

    def fit(self, X: np.ndarray) -> "ConvVAEModel":
        data = np.asarray(X, dtype=np.float32) * 2.0 - 1.0
        self.net_ = _vae_net_class()(
            ConvVAEModule,
            module__input_shape=tuple(int(s) for s in data.shape[1:]),
            module__latent_dim=self.latent_dim,
            module__base_channels=self.base_channels,
            module__seed=self.seed,
            criterion=nn.MSELoss,  # unused: get_loss computes the ELBO
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(self.seed + 2),
            device="cpu",
            verbose=0,
        )
        self.net_.fit(data, None)
        return self

    @torch.no_grad()
    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        module = self.net_.module_.eval()
        data = torch.as_tensor(np.asarray(X, dtype=np.float32) * 2.0 - 1.0)
        return np.concatenate(
            [negative_elbo(*module(chunk), chunk).double().numpy() for chunk in data.split(512)]
        )

    def record_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}
