"""XTTS v2's text normalisation per language: numbers, abbreviations and symbols spelt out."""
