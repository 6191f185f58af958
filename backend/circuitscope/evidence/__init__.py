"""Evidence for unit labels: tuning curves from synthetic stimuli, the blind human comparison, and the
scores (concept AUC, human share) that travel with a label."""
