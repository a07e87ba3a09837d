"""OCGAN (Perera, Nallapati and Xiang 2019), built from this package's network blocks.

A denoising auto-encoder whose latent space is bounded by the encoder's tanh
(:class:`~danogan_sk.nn.ConvEncoder`) and constrained to hold in-class images
only:

* a *latent discriminator* makes the codes of training images look uniform on
  ``[-1, 1]^d``;
* a *visual discriminator* makes the decoder's image of any uniform code look
  like a training image;
* a *classifier* learns to tell reconstructions of training images (in class)
  from decoded random codes (possibly out of class);
* *informative-negative mining* moves random codes by a few gradient steps to
  where the classifier is surest they decode out of class, and those codes
  then feed the visual discriminator, so that the decoder learns to make them
  in-class too.

The score is the reconstruction error ``mean (x - De(En(x)))^2``, as in the
paper. All random numbers come from one local ``torch.Generator``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..nn import ConvCritic, ConvEncoder, ConvGenerator, build_local
from ..training import shuffled_batches
from .baselines import _chunked, _ConvBaseline, _per_sample_mse, _scaled, build_seeded

__all__ = ["OCGAN"]


def _latent_discriminator(latent_dim: int) -> nn.Module:
    """A small MLP ``z -> logit`` (codes are vectors: no convolutions)."""
    hidden = 4 * latent_dim
    return nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1), nn.Flatten(0),
    )


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class OCGAN(_ConvBaseline):
    """OCGAN: constrained-latent denoising auto-encoder; score = reconstruction MSE.

    Parameters
    ----------
    seed, epochs, latent_dim, base_channels, batch_size, lr
        As in :class:`~danogan_sk.benchmark.baselines.FAnoGAN`.
    noise : float, default=0.2
        Standard deviation of the Gaussian noise added to the encoder's input
        (images scaled to [-1, 1]); the auto-encoder is a denoising one.
    reconstruction_weight : float, default=10.0
        Weight of the reconstruction loss against the two adversarial losses
        (the paper's lambda).
    mining_steps : int, default=5
        Gradient steps of informative-negative mining; 0 turns mining off.
    mining_lr : float, default=0.1
        Step size of the mining's gradient descent on the codes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    >>> OCGAN(epochs=1).fit(X).anomaly_score(X[:3]).shape
    (3,)
    """

    def __init__(self, seed: int = 0, epochs: int = 5, noise: float = 0.2,
                 reconstruction_weight: float = 10.0, mining_steps: int = 5,
                 mining_lr: float = 0.1, **kwargs) -> None:
        super().__init__(seed, epochs, **kwargs)
        self.noise = noise
        self.reconstruction_weight = reconstruction_weight
        self.mining_steps = mining_steps
        self.mining_lr = mining_lr

    def fit(self, X: np.ndarray) -> "OCGAN":
        generator, spec, data = self._start(X)
        self.encoder_ = build_seeded(ConvEncoder, spec, generator)
        self.decoder_ = build_seeded(ConvGenerator, spec, generator)
        self.visual_ = build_seeded(ConvCritic, spec, generator)
        self.classifier_ = build_seeded(ConvCritic, spec, generator)
        self.latent_ = build_local(lambda: _latent_discriminator(self.latent_dim), generator)
        adam = lambda *modules: torch.optim.Adam(  # noqa: E731
            [p for m in modules for p in m.parameters()], self.lr, betas=(0.5, 0.999))
        optimizers = {
            "autoencoder": adam(self.encoder_, self.decoder_),
            "discriminators": adam(self.latent_, self.visual_),
            "classifier": adam(self.classifier_),
        }
        self.history_ = []
        for _ in range(self.epochs):
            for rows in shuffled_batches(len(data), self.batch_size, generator):
                self.history_.append(self._step(data[rows], optimizers, generator))
        self.encoder_.eval()
        self.decoder_.eval()
        return self

    def _uniform_codes(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.rand(n, self.latent_dim, generator=generator) * 2 - 1

    def _step(self, x: Tensor, optimizers: dict, generator: torch.Generator) -> dict:
        """One batch of the paper's algorithm: classifier, discriminators, mining, auto-encoder."""
        noisy = x + self.noise * torch.randn(x.shape, generator=generator)
        codes = self._uniform_codes(len(x), generator)

        # 1. Classifier: reconstructions are in class (1), decoded random codes may not be (0).
        with torch.no_grad():
            reconstruction, decoded = self.decoder_(torch.cat([self.encoder_(noisy), codes])).split(len(x))
        loss_c = self.classifier_loss(reconstruction, decoded)
        _update(optimizers["classifier"], loss_c)

        # 2. Discriminators: uniform codes and training images are real, encodings and decodings fake.
        with torch.no_grad():
            encoded = self.encoder_(noisy)
        loss_d = (_bce(self.latent_(codes), 1.0) + _bce(self.latent_(encoded), 0.0)
                  + _bce(self.visual_(x)[0], 1.0) + _bce(self.visual_(decoded)[0], 0.0))
        _update(optimizers["discriminators"], loss_d)

        # 3. Informative negatives: codes the classifier finds most out of class.
        negatives = self.mine_negatives(codes)

        # 4. Auto-encoder: reconstruct, and fool both discriminators.
        encoded = self.encoder_(noisy)
        reconstruction = self.decoder_(encoded)
        reconstruction_loss = F.mse_loss(reconstruction, x)
        loss_ae = (self.reconstruction_weight * reconstruction_loss
                   + _bce(self.latent_(encoded), 1.0)
                   + _bce(self.visual_(self.decoder_(negatives))[0], 1.0))
        _update(optimizers["autoencoder"], loss_ae)
        losses = {"classifier": loss_c, "discriminators": loss_d,
                  "reconstruction": reconstruction_loss, "autoencoder": loss_ae}
        return {k: float(v.detach()) for k, v in losses.items()}

    def classifier_loss(self, in_class: Tensor, decoded: Tensor) -> Tensor:
        """Binary cross-entropy of the classifier: ``in_class`` -> 1, ``decoded`` -> 0."""
        return _bce(self.classifier_(in_class)[0], 1.0) + _bce(self.classifier_(decoded)[0], 0.0)

    def mine_negatives(self, codes: Tensor) -> Tensor:
        """Move ``codes`` by gradient descent on the classifier's in-class logit, inside [-1, 1].

        Returns the mined codes, detached; the networks' parameters get no gradient.
        """
        frozen = (self.decoder_, self.classifier_)
        for module in frozen:
            module.requires_grad_(False)
        z = codes.detach().clone().requires_grad_(True)
        for _ in range(self.mining_steps):
            logit = self.classifier_(self.decoder_(z))[0].sum()
            (grad,) = torch.autograd.grad(logit, z)
            with torch.no_grad():
                z -= self.mining_lr * grad
                z.clamp_(-1.0, 1.0)
        for module in frozen:
            module.requires_grad_(True)
        return z.detach()

    def _reconstruction_error(self, x: Tensor) -> Tensor:
        return _per_sample_mse(x, self.decoder_(self.encoder_(x)))

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return _chunked(self._reconstruction_error, _scaled(X))


def _update(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
