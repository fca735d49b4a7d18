//! Test support shared by Flotilla's integration tests.
//!
//! [`etcd::Etcd`] starts a real etcd (Debian's `etcd-server`) on free loopback ports in a temporary
//! directory and kills it when dropped, so every test gets its own clean store.

pub mod etcd;
