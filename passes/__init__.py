"""patsparse optimisation passes on tensors, one module per pass, named after its flag."""
