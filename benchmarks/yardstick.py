"""The thesis's training and scoring loop (appendix B), the yardstick speed is measured against.

Written from the thesis's description, on the library's own network classes
and weights (:mod:`danogan_sk.nn`), so that architecture and math are the
same and only the way the work is done differs. As appendix B runs it:

* the generators and encoders are called in a Python loop over the clusters
  present in the batch, with host-side bookkeeping (``cluster.cpu().numpy()``,
  ``np.unique``, ``np.argwhere``, ``index_select``, ``out[idx] = ...``);
* each generator is the plain nearest-upsample + 5x5 convolution
  (:meth:`ConvGenerator.reference_forward`);
* every critic step generates its fakes with an autograd graph, and the
  critic runs on the real and the fake batch separately; the gradient penalty
  is autograd's double backward (:func:`danogan_sk.training.gradient_penalty`);
* ``estimate_real`` runs the updated critic on the real batch again and
  reconstructs it, only for logging; logged values are read to the host.

Where the thesis code is wrong (see DESIGN.md section 2) the yardstick does
what the library does, so that both compute the same losses: the encoder
learns on detached fakes, the classifier's gradient is taken for the
classifier alone (the thesis's backward through the generator after its
optimizer step fails on PyTorch >= 1.5), the classifier is in eval mode
when it estimates the real cluster distribution, and the bandit loss is
eq. 4.2 as :func:`danogan_sk.training.bandit_loss` writes it. Random numbers
are drawn from one local generator in the library's order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from danogan_sk.nn import ConvGenerator, DAnoGANNetworks
from danogan_sk.losses import bandit_loss, gradient_penalty
from danogan_sk.training import TrainingConfig

__all__ = ["ThesisMultiNetwork", "ThesisTrainer", "thesis_anomaly_test"]


class ThesisMultiNetwork(nn.Module):
    """Appendix B's ``MultiGenerator``/``MultiEncoder``: a loop over the clusters in the batch."""

    def __init__(self, networks: nn.ModuleList) -> None:
        super().__init__()
        self.networks = networks

    def _apply(self, k: int, x: Tensor) -> Tensor:
        net = self.networks[k]
        return net.reference_forward(x) if isinstance(net, ConvGenerator) else net(x)

    def forward(self, inputs: Tensor, cluster: Tensor) -> Tensor:
        # Host-side bookkeeping, as the thesis does it (reshape(-1), not
        # squeeze(): a batch of one must not become a 0-d index).
        zc = cluster.cpu().reshape(-1).numpy()
        out = None
        for c in np.unique(zc):
            idx = torch.tensor(np.argwhere(zc == c)).to(inputs.device).reshape(-1)
            block = self._apply(int(c), inputs.index_select(0, idx))
            if out is None:
                out = torch.empty(inputs.shape[0], *block.shape[1:], device=inputs.device, dtype=block.dtype)
            out[idx] = block
        return out


class ThesisTrainer:
    """Phase 1 as appendix B's ``train_D``, ``train_G``, ``train_E_1``, ``train_E_2``,
    ``estimate_real`` and ``train_B`` run it.

    Parameters
    ----------
    nets : DAnoGANNetworks
        Networks to train (in place).
    config : TrainingConfig
        Learning rates, ``gp_weight``, ``classifier_weight``, ``n_critic``, ``bandit``.
    generator : torch.Generator
        The local random generator.
    bandit_on_updated_critic : bool
        The thesis's ``estimate_real`` reads ``D_i(x)`` from the critic after
        its update; ``False`` reuses the critic step's ``D_i(x)``, as the
        library does (only for the equivalence test).
    """

    def __init__(
        self,
        nets: DAnoGANNetworks,
        config: TrainingConfig,
        generator: torch.Generator,
        bandit_on_updated_critic: bool = True,
    ) -> None:
        self.nets = nets
        self.config = config
        self.generator = generator
        self.bandit_on_updated_critic = bandit_on_updated_critic
        self.gen = ThesisMultiNetwork(nets.generators)
        self.enc = ThesisMultiNetwork(nets.encoders)
        adam = torch.optim.Adam
        self.opt_g = adam(nets.generators.parameters(), config.lr_generator, (0.9, 0.99), weight_decay=5e-5)
        self.opt_d = adam(nets.critic.parameters(), config.lr_critic, (0.5, 0.5))
        self.opt_e = adam(nets.encoders.parameters(), config.lr_encoder, (0.5, 0.5))
        self.opt_c = adam(nets.classifier.parameters(), config.lr_classifier, (0.9, 0.99))
        self.opt_b = adam([nets.bandit_logits], config.lr_bandit, (0.5, 0.5))
        self.log: dict[str, float] = {}

    def train_d(self, real: Tensor) -> None:
        """Critic step; keeps the fakes and their graph for ``train_g``."""
        nets, batch = self.nets, real.shape[0]
        self.cluster = torch.multinomial(nets.prior().detach(), batch, replacement=True, generator=self.generator)
        self.z = torch.rand(
            batch, nets.spec.latent_dim, generator=self.generator, device=real.device, dtype=real.dtype
        )
        self.z = self.z * 2 - 1
        self.fake = self.gen(self.z, self.cluster)
        nets.critic.zero_grad()
        value_real, features_real = nets.critic(real)
        value_fake, _ = nets.critic(self.fake.detach())
        penalty = gradient_penalty(nets.critic, real, self.fake.detach(), self.generator)
        self.loss_d = value_fake.mean() - value_real.mean() + self.config.gp_weight * penalty
        self.loss_d.backward()
        self.opt_d.step()
        self.features_real = features_real.detach()
        self.w_est = value_real.mean() - value_fake.mean()
        self.penalty = penalty

    def train_g(self) -> None:
        """Generator update; builds the encoder's and classifier's losses on the way."""
        nets = self.nets
        nets.generators.zero_grad()
        value_fake, features_fake = nets.critic(self.fake)
        logits = nets.classifier(features_fake)
        self.loss_c = F.cross_entropy(logits, self.cluster)
        self.loss_e = (self.z - self.enc(self.fake.detach(), self.cluster)).pow(2).mean()
        self.loss_g = -value_fake.mean() + self.config.classifier_weight * self.loss_c
        self.loss_g.backward(retain_graph=True)
        self.opt_g.step()

    def train_e(self) -> None:
        """Encoder update (``train_E_1``)."""
        self.nets.encoders.zero_grad()
        self.loss_e.backward()
        self.opt_e.step()

    def train_c(self) -> None:
        """Classifier update (``train_E_2``), for the classifier's parameters only."""
        params = list(self.nets.classifier.parameters())
        self.nets.classifier.zero_grad()
        self.loss_c.backward(inputs=params)
        self.opt_c.step()

    @torch.no_grad()
    def estimate_real(self, real: Tensor) -> None:
        """Cluster distribution of the real batch, and its reconstruction error for the log."""
        nets = self.nets
        features = nets.critic(real)[1] if self.bandit_on_updated_critic else self.features_real
        nets.classifier.eval()
        logits = nets.classifier(features)
        nets.classifier.train()
        probs = torch.softmax(logits, dim=-1)
        cluster = probs.argmax(-1)
        self.real_probs = probs.mean(0)
        recon = self.gen(self.enc(real, cluster), cluster)
        self.real_mse = (real - recon).pow(2).mean()
        self.real_entropy = -(probs * torch.log_softmax(logits, dim=-1)).sum(1).mean()

    def train_b(self, entropy_weight: float) -> None:
        """Bandit update (eq. 4.2)."""
        self.opt_b.zero_grad()
        self.loss_b = bandit_loss(self.nets.bandit_logits, self.real_probs, entropy_weight)
        self.loss_b.backward()
        self.opt_b.step()

    def log_results(self) -> None:
        """The thesis's scalar summaries: every logged value is read to the host."""
        names = ("loss_d", "w_est", "penalty", "loss_g", "loss_e", "loss_c", "real_mse", "real_entropy")
        self.log = {name: float(getattr(self, name).detach()) for name in names}
        if self.config.bandit:
            self.log["loss_b"] = float(self.loss_b.detach())
        self.log.update({f"p{k}": float(p) for k, p in enumerate(self.nets.prior().detach())})

    def step(self, real: Tensor, update_others: bool, entropy_weight: float) -> None:
        """One mini-batch of run.py's loop: a critic step, and every ``n_critic`` the rest."""
        self.train_d(real)
        if update_others:
            self.train_g()
            self.train_e()
            self.train_c()
            self.estimate_real(real)
            if self.config.bandit:
                self.train_b(entropy_weight)
            self.log_results()


@torch.no_grad()
def thesis_anomaly_test(nets: DAnoGANNetworks, query: Tensor, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Appendix B's ``anomaly_test`` over a data loader of ``batch_size``: per-sample terms on the host."""
    nets.eval()
    gen, enc = ThesisMultiNetwork(nets.generators), ThesisMultiNetwork(nets.encoders)
    parts: dict[str, list[np.ndarray]] = {"mse": [], "feature_mse": [], "kl": []}
    for start in range(0, query.shape[0], batch_size):
        x = query[start : start + batch_size]
        _, features = nets.critic(x)
        logits = nets.classifier(features)
        cluster = torch.softmax(logits, dim=-1).argmax(-1)
        recon = gen(enc(x, cluster), cluster)
        _, features_rec = nets.critic(recon)
        logits_rec = nets.classifier(features_rec)
        kl = F.kl_div(F.log_softmax(logits_rec, -1), F.softmax(logits, -1), reduction="none").sum(1)
        parts["feature_mse"].append((features - features_rec).pow(2).flatten(1).mean(1).cpu().numpy())
        parts["mse"].append((x - recon).pow(2).flatten(1).mean(1).cpu().numpy())
        parts["kl"].append(kl.cpu().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}
