//! What the server says about the resources it serves: discovery, OpenAPI, `kubectl get`
//! tables and `kubectl describe`.

pub mod discovery;
pub mod openapi;
pub mod secret_data;
pub mod table;

#[cfg(test)]
mod flotilla_tests;
