"""mugshot-train: data preparation, teacher GAN, distilled student, evaluation and export (PyTorch)."""
