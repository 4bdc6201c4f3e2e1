//! Integration tests that need etcd or docker: see tests/tests/.
