"""Provides what grading says: feedback on a failed check, notes on common errors, grade's words, and checks run in place."""
