"""Provides the course: the lesson format and its parser, discovery of lessons, the author's checker, predict blocks and export."""
