"""The autoencoder of DC-SOMRL, after Xie et al. 2016 (DEC), paper section 4.

encoder  d-500-500-2000-m with ReLU, then z = sigmoid(.) so codes lie in [0, 1]
decoder  m-2000-500-500-d with ReLU, linear output
"""
from __future__ import annotations

import torch
from torch import nn

HIDDEN = (500, 500, 2000)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    def __init__(self, input_dim: int, latent_dim: int, hidden: tuple[int, ...] = HIDDEN):
        super().__init__()
        self.input_dim, self.latent_dim, self.hidden = input_dim, latent_dim, tuple(hidden)
        self.encoder = mlp([input_dim, *hidden, latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), input_dim])

    def config(self) -> dict:
        """Constructor arguments, saved beside the weights."""
        return dict(input_dim=self.input_dim, latent_dim=self.latent_dim, hidden=list(self.hidden))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, m) in [0, 1]"""
        return torch.sigmoid(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, m) -> (B, d)"""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)
