"""Detection and incident rules: frames in, incident events out."""
