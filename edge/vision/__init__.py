"""The stages a frame passes through: motion gate, face detector, face mesh and pose, tracker, best-shot
quality, alignment and the mugshot generator, with the model files they load."""
