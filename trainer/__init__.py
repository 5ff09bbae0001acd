"""mugshot-train: the restoration generator (crops of near-frontal faces, teacher GAN, distilled student, export), the
blind rating and track-level evaluation of what the box publishes (PyTorch)."""
