//! A cluster singleton: its manager, its fencing, and its proxy.
