//! Wire format: versioned, bounded, never panics. (To be written.)
