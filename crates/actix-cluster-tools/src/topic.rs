//! Pub-sub topics: typed topics by name, local subscribers, one delivery per
//! member that has subscribers.
