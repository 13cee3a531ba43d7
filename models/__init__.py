"""Scoring: red-flag indicators, competitiveness metrics and the corruption-risk index."""
