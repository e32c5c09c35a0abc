"""Provides the models the lab trains: a neuron, an MLP and a tiny GPT."""
