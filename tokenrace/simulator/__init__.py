"""The built-in simulator: a loopback HTTP server speaking each provider's wire format with set
timing and faults, recording when it sent each chunk (the ground truth for accuracy tests)."""
from .profiles import DEFAULT_PROFILES, Fault, FaultKind, Profile, answer_tokens, reasoning_tokens, tokenize
from .server import ChunkTruth, RequestTruth, Simulator, serve

__all__ = ["DEFAULT_PROFILES", "ChunkTruth", "Fault", "FaultKind", "Profile", "RequestTruth", "Simulator",
           "answer_tokens", "reasoning_tokens", "serve", "tokenize"]
