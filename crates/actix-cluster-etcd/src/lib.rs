//! etcd discovery for actix-cluster. (To be written.)
