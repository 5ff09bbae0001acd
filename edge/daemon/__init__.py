"""The camera daemon's runtime: the pipeline loop, the service around it, its counters, sequence numbers,
calibration frames and the systemd installer."""
