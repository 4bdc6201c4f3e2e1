//! Deterministic simulator for the membership protocol. (To be written.)
