"""Live controls: the thread-safe state the engine reads once per frame, and the ways users change it."""
