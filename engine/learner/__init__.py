"""Provides the learner's state: the progress store, the exercise workspace, drafts and the file watcher."""
