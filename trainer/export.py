"""The datasets and citations every model card names (``restore_export.py``'s cards).

The pair trainer's ``mugshot-train export`` and ``card`` are retired (issue 22: the generator is a restoration
network now; ``mugshot-train restore-export`` exports it; git history keeps the old exporter)."""
from __future__ import annotations

DATASETS = {"frmdb": "FRMDB (Contardo et al., Sensors 2023; research and education only)",
            "p04": "Pointing'04 (Gourier, Hall, Crowley 2004)",
            "att": "AT&T/ORL faces (AT&T Laboratories Cambridge)"}

CITATIONS = """- P. Contardo, P. Sernani, S. Tomassini, N. Falcionelli, M. Martarelli, P. Castellini, A. F. Dragoni,
  "FRMDB: Face Recognition Using Multiple Points of View", Sensors 2023, 23, 1939 (research and education only).
- N. Gourier, D. Hall, J. L. Crowley, "Estimating Face Orientation from Robust Detection of Salient Facial
  Features", Pointing 2004, ICPR workshop.
- F. Samaria, A. Harter, "Parameterisation of a stochastic model for human face identification", 1994
  (AT&T/ORL faces, credit AT&T Laboratories Cambridge), where used."""
