"""Tools around the box: the demo, benchmarks, a local broker, the contact sheet and still photos."""
