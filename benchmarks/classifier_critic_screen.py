"""Screen of a critic that also learns the cluster classifier's task (MGAN-style shared trunk).

In the thesis (appendix A) the classifier's loss ``L_C`` changes only the
classifier ``C``; the critic's features ``D_i`` it reads are learnt from the
Wasserstein loss alone. MGAN (Hoang et al., 2018) and InfoGAN instead train
the shared layers with the classification loss as well. Here each critic step
adds ``--classifier-critic-weight`` times the classifier's cross entropy on
the step's fakes (which generator drew each one) to the critic's loss, with
the gradient reaching the critic (and the classifier's batch statistics, as
in its own step). Features that tell the generators apart tell the normal
classes apart once each generator holds one class, which is what the
neighbour and latent terms read.

The library has no such setting: this script patches the training step,
then runs ``dev_protocol.py`` with the remaining arguments (run it with
``--bank-groups codes`` so that the fits save the latent and entropy terms).

    python benchmarks/classifier_critic_screen.py --classifier-critic-weight 1 --dataset mnist \\
        --bank-groups codes --params '{"critic_snapshots": 4}' --budgets 24 --seeds 0 --out dev/mnist-clscritic
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import dev_protocol  # noqa: E402

from danogan_sk import nn as networks, training  # noqa: E402

_critic_forward = networks.ConvCritic.forward
_critic_loss = training.critic_loss
_draw_step = training._draw_step


def patch(weight: float) -> None:
    """Add ``weight`` times the classifier's cross entropy on the fakes to every critic step from here on
    (``weight=0``: nothing is patched, the library's training)."""
    if not weight:
        return
    step = {}

    def draw_step_remembered(nets, real, config, generator):
        draws = _draw_step(nets, real, config, generator)
        step.update(nets=nets, cluster=draws.cluster)
        return draws

    def forward_remembered(self, x):
        value, features = _critic_forward(self, x)
        # critic_loss passes real and fake in one batch; its features stay in the graph.
        self.last_features = features
        return value, features

    def critic_loss_with_classifier(critic, real, fake, gp_weight, generator=None, *, eps=None):
        loss, wasserstein, penalty, real_features = _critic_loss(critic, real, fake, gp_weight, generator, eps=eps)
        fake_features = critic.last_features[real.shape[0]:]
        critic.last_features = None
        cross_entropy = F.cross_entropy(step["nets"].classifier(fake_features), step["cluster"])
        return loss + weight * cross_entropy, wasserstein, penalty, real_features

    networks.ConvCritic.forward = forward_remembered
    training._draw_step = draw_step_remembered
    # The training step calls the loss by its name in ``training``; the logged critic loss includes the term.
    training.critic_loss = critic_loss_with_classifier


if __name__ == "__main__":
    dev_protocol.main_patched("--classifier-critic-weight", patch, __doc__.splitlines()[0])
