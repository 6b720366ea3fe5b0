"""Neural genre models in PyTorch: the shared base class, networks, training loop and data.

Importing this package does not import torch; the model modules do, when a registered
neural model is first asked for by name.
"""
