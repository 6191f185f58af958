"""Concept selectivity: per-concept activation histograms tallied in the examples pass, AUC scores, suggestions."""
