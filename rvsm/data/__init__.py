"""Synthesis of regular vs tremor-perturbed text images (printed fonts and handwriting)."""
