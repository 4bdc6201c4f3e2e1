//! Routers over a service key's listing: round robin, random, consistent
//! hashing, skipping members that are unreachable or down.
